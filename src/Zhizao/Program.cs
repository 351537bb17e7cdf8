return await Zhizao.Cli.CliApp.RunAsync(args);
