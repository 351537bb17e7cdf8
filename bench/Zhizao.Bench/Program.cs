if (args.Length > 0 && args[0] == "http")
{
    return await Zhizao.Bench.Http.HttpIngestBench.RunAsync(args[1..], CancellationToken.None);
}

Console.WriteLine("zhizao bench: http");
return 0;
