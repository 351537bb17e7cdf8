namespace Zhizao.Analytics.Tests;

/// <summary>Seeded correlated process data: 5 sensors driven by 2 latent factors plus noise.</summary>
internal static class Synthetic
{
    private static readonly double[,] Loadings =
    {
        { 1.0, 0.0 }, { 0.8, 0.3 }, { 0.0, 1.0 }, { 0.5, -0.7 }, { -0.6, 0.4 },
    };

    private static readonly double[] Offsets = [10, 50, -3, 0, 200];

    public static double[][] Normal(int n, int seed)
    {
        var rng = new Random(seed);
        var rows = new double[n][];
        for (var i = 0; i < n; i++)
        {
            var f1 = Gauss(rng);
            var f2 = Gauss(rng);
            var r = new double[5];
            for (var j = 0; j < 5; j++) r[j] = Offsets[j] + 3 * (Loadings[j, 0] * f1 + Loadings[j, 1] * f2) + 0.2 * Gauss(rng);
            rows[i] = r;
        }
        return rows;
    }

    public static double Gauss(Random rng)
    {
        var u1 = 1.0 - rng.NextDouble();
        var u2 = rng.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
