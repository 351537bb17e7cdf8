namespace Zhizao.Ingest;
