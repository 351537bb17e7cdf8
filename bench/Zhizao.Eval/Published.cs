namespace Zhizao.Eval;

/// <summary>SKAB "Proposed Leaderboard" (repo README at b2c0d46, all three groups, NAB window 60 s), from SOURCE.md.</summary>
internal static class Published
{
    public static readonly (string Name, double F1, double Far, double Mar)[] Outliers =
    [
        ("Conv-AE", 0.78, 13.55, 28.02), ("MSET", 0.78, 39.73, 14.13), ("T-squared+Q (PCA)", 0.76, 26.62, 24.92),
        ("LSTM-AE", 0.74, 29.96, 25.92), ("T-squared", 0.66, 19.21, 42.6), ("LSTM-VAE", 0.56, 9.13, 55.03),
        ("Vanilla LSTM", 0.54, 12.54, 59.53), ("MSCRED", 0.36, 49.94, 69.88), ("Vanilla AE", 0.39, 2.59, 75.15),
        ("Isolation forest", 0.29, 2.56, 82.89),
    ];

    public static readonly (string Name, double Std, double LowFp, double LowFn, int Missed, int Fps)[] Changepoints =
    [
        ("MSCRED", 32.42, 16.53, 40.28, 55, 342), ("Isolation forest", 26.16, 19.5, 30.82, 76, 135),
        ("T-squared+Q (PCA)", 25.35, 14.51, 31.33, 72, 232), ("Conv-AE", 23.61, 21.54, 27.55, 82, 23),
        ("LSTM-AE", 23.51, 20.11, 25.91, 88, 69), ("T-squared", 19.54, 10.2, 24.31, 70, 106),
        ("MSET", 13.84, 10.22, 17.37, 96, 66), ("Vanilla AE", 11.41, 6.53, 13.91, 103, 106),
        ("Vanilla LSTM", 11.31, -3.8, 17.25, 90, 342), ("ArimaFD", -0.09, -0.17, -0.06, 127, 2),
    ];

    /// <summary>C-MAPSS RMSE / PHM08 score from ../shared/datasets/cmapss/SOURCE.md (sources A and B there).</summary>
    public static readonly (string Method, string Fd001, string Fd003)[] Cmapss =
    [
        ("MTSTAN (best in SOURCE.md)", "10.97 / 175", "10.90 / 188"),
        ("DA-TCN (2021)", "11.78±0.29 / 229±8", "11.56±0.61 / 257±58"),
        ("TCNN-Transformer (2021)", "11.40 / 254", "11.35 / 415"),
        ("Bi-level LSTM", "11.80 / 194", "12.37 / 224"),
        ("XGBoost on engineered features (arXiv 2604.27234)", "–", "13.36 / –"),
        ("single-layer LSTM (arXiv 2604.27234)", "14.93 / –", "14.20 / –"),
        ("Deep LSTM (Zheng et al. 2017)", "16.14 / 338", "16.18 / 852"),
        ("SVR", "20.96 / 1380", "21.05 / 1600"),
    ];
}
