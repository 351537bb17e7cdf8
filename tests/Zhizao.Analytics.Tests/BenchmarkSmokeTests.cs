using Zhizao.Analytics.Classification;
using Zhizao.Analytics.Rul;
using Zhizao.Analytics.Trees;
using Zhizao.Eval;

namespace Zhizao.Analytics.Tests;

/// <summary>A fact that is skipped, with the reason, when a shared data set is not on this machine.</summary>
public sealed class DatasetFactAttribute : FactAttribute
{
    public DatasetFactAttribute(string name)
    {
        if (Datasets.Find(name) is null)
            Skip = $"data set '{name}' not found (looked for shared/datasets/{name} above the repository and in $ZHIZAO_DATASETS)";
    }
}

internal static class Datasets
{
    public static string? Find(string name)
    {
        if (Environment.GetEnvironmentVariable("ZHIZAO_DATASETS") is { } env && Directory.Exists(Path.Combine(env, name)))
            return Path.Combine(env, name);
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared", "datasets", name);
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }
}

/// <summary>The harness on a slice of the real data, with small models: sane figures, not the published ones.</summary>
public class BenchmarkSmokeTests
{
    [DatasetFact("cmapss")]
    public void Cmapss_FD001_on_a_third_of_the_training_units_scores_a_sane_RMSE()
    {
        var full = CmapssData.Load(Datasets.Find("cmapss")!, "FD001");
        Assert.Equal(100, full.Train.Count);
        Assert.Equal(100, full.Test.Count);
        var slice = full with { Train = full.Train.Take(35).ToList() };
        var options = new RulModelOptions
        {
            EnsembleSize = 1,
            Point = new RulModelOptions().Point with { Rounds = 150, LearningRate = 0.06 },
            Band = new RulModelOptions().Band with { Rounds = 80, LearningRate = 0.1 },
        };
        var r = CmapssCommand.Evaluate(slice, options, outDir: null);
        Assert.Equal(1, r.Regimes);
        Assert.True(r.Rmse < 20, $"RMSE {r.Rmse:F2}"); // a constant prediction of the mean scores ≈ 41
        Assert.True(r.Rmse > 5, $"RMSE {r.Rmse:F2} is implausibly good for this slice");
        Assert.InRange(r.Coverage, 0.4, 1.0);
    }

    [DatasetFact("ai4i2020")]
    public void Ai4i_on_half_the_rows_with_two_folds_scores_a_sane_F1()
    {
        var full = Ai4iCommand.Load(Path.Combine(Datasets.Find("ai4i2020")!, "ai4i2020.csv"));
        Assert.Equal(10_000, full.Label.Length);
        Assert.Equal(339, full.Label.Count(v => v == 1));
        var half = Enumerable.Range(0, full.Label.Length).Where(i => i % 2 == 0).ToArray();
        var slice = new Ai4iData(half.Select(i => full.Ids[i]).ToArray(), half.Select(i => full.Features[i]).ToArray(),
            half.Select(i => full.Label[i]).ToArray(), full.FeatureNames);
        var options = new BoostedClassifierOptions
        {
            WeightExponents = [0],
            MinSamplesLeaf = [10],
            InnerFolds = 2,
            Trees = new BoostedClassifierOptions().Trees with { Rounds = 150, LearningRate = 0.1 },
        };
        var r = Ai4iCommand.CrossValidate(slice, folds: 2, seed: 1, options);
        Assert.True(r.F1.Average() > 0.6, $"F1 {r.F1.Average():F3}"); // predicting all failures scores ≈ 0.07
        Assert.True(r.Ap.Average() > 0.6, $"AP {r.Ap.Average():F3}");
        Assert.Equal(half.Length, r.Fold.Length);
    }
}

public class HarnessArgumentTests
{
    [Theory]
    [InlineData("cmapss")]
    [InlineData("ai4i")]
    public void Missing_data_directory_exits_with_code_3(string verb)
    {
        var missing = Path.Combine(Path.GetTempPath(), "zhizao-no-such-dataset-" + verb);
        var args = new[] { "--data", missing, "--out", Path.GetTempPath() };
        var code = verb == "cmapss" ? CmapssCommand.Run(args, root: null) : Ai4iCommand.Run(args, root: null);
        Assert.Equal(3, code);
    }

    [Fact]
    public void Unknown_arguments_exit_with_code_2()
    {
        Assert.Equal(2, CmapssCommand.Run(["--bogus"], root: null));
        Assert.Equal(2, Ai4iCommand.Run(["--folds", "1"], root: null));
        Assert.Equal(2, TrainSpeedCommand.Run(["--days", "-1"]));
    }
}
