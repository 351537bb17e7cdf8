using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("Zhizao.Ingest.Tests")]
