namespace Zhizao.Analytics.Trees;

/// <summary>
/// Grows one tree leaf-wise (best gain first, as LightGBM) on binned rows from gradients and hessians: histograms of
/// (Σg, Σh, count) per feature bin, the smaller child scanned and the larger obtained by subtraction from its parent.
/// Gain of a split = G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ); leaf value = −G/(H+λ).
/// </summary>
internal sealed class TreeGrower
{
    private readonly byte[] _bins; // n × f row-major
    private readonly int _f;
    private readonly FeatureBins _featureBins;
    private readonly int[] _offset; // histogram offset (in bins) of each feature
    private readonly int _totalBins;
    private readonly GbmOptions _o;
    private readonly Stack<double[]> _pool = new();
    private int[] _scratch = [];

    public TreeGrower(byte[] bins, int featureCount, FeatureBins featureBins, GbmOptions options)
    {
        _bins = bins;
        _f = featureCount;
        _featureBins = featureBins;
        _o = options;
        _offset = new int[featureCount];
        for (var j = 0; j < featureCount; j++)
        {
            _offset[j] = _totalBins;
            _totalBins += featureBins.BinCount(j);
        }
    }

    private sealed class Leaf
    {
        public int Node;
        public int Start;
        public int Count;
        public int Depth;
        public double G;
        public double H;
        public double[]? Hist;
        public int SplitFeature = -1;
        public int SplitBin;
        public double Gain;
    }

    /// <summary>
    /// Grows a tree over rows idx[0..count) (reordered in place so each leaf's rows are contiguous). Returns the tree
    /// with unscaled Newton leaf values, and for every leaf node its (start, count) range in idx.
    /// </summary>
    public (RegressionTree Tree, Dictionary<int, (int Start, int Count)> LeafRows, double[] Gains) Grow(
        int[] idx, int count, double[] grad, double[] hess, int[] features)
    {
        if (_scratch.Length < count) _scratch = new int[count];
        var feature = new List<int> { -1 };
        var threshold = new List<double> { 0 };
        var binThreshold = new List<byte> { 0 };
        var left = new List<int> { -1 };
        var right = new List<int> { -1 };
        var value = new List<double> { 0 };
        var gains = new double[_f];

        var root = new Leaf { Node = 0, Start = 0, Count = count, Depth = 0, Hist = Rent() };
        Build(idx, 0, count, grad, hess, root.Hist, features);
        for (var k = 0; k < count; k++)
        {
            root.G += grad[idx[k]];
            root.H += hess[idx[k]];
        }
        FindSplit(root, features);
        var leaves = new List<Leaf> { root };

        while (leaves.Count < _o.MaxLeaves)
        {
            Leaf? best = null;
            foreach (var l in leaves)
                if (l.SplitFeature >= 0 && (best is null || l.Gain > best.Gain)) best = l;
            if (best is null) break;

            var j = best.SplitFeature;
            var b = (byte)best.SplitBin;
            var nLeft = Partition(idx, best.Start, best.Count, j, b);
            var l1 = new Leaf { Start = best.Start, Count = nLeft, Depth = best.Depth + 1 };
            var l2 = new Leaf { Start = best.Start + nLeft, Count = best.Count - nLeft, Depth = best.Depth + 1 };
            var (small, large) = l1.Count <= l2.Count ? (l1, l2) : (l2, l1);
            small.Hist = Rent();
            Build(idx, small.Start, small.Count, grad, hess, small.Hist, features);
            large.Hist = best.Hist!;
            best.Hist = null;
            Subtract(large.Hist, small.Hist, features);
            for (var k = l1.Start; k < l1.Start + l1.Count; k++)
            {
                l1.G += grad[idx[k]];
                l1.H += hess[idx[k]];
            }
            l2.G = best.G - l1.G;
            l2.H = best.H - l1.H;

            gains[j] += best.Gain;
            var node = best.Node;
            feature[node] = j;
            binThreshold[node] = b;
            threshold[node] = _featureBins.Edge(j, b);
            l1.Node = feature.Count;
            l2.Node = feature.Count + 1;
            left[node] = l1.Node;
            right[node] = l2.Node;
            for (var c = 0; c < 2; c++)
            {
                feature.Add(-1);
                threshold.Add(0);
                binThreshold.Add(0);
                left.Add(-1);
                right.Add(-1);
                value.Add(0);
            }
            leaves.Remove(best);
            leaves.Add(l1);
            leaves.Add(l2);
            FindSplit(l1, features);
            FindSplit(l2, features);
        }

        var leafRows = new Dictionary<int, (int, int)>();
        foreach (var l in leaves)
        {
            value[l.Node] = -l.G / (l.H + _o.L2);
            leafRows[l.Node] = (l.Start, l.Count);
            if (l.Hist is not null) _pool.Push(l.Hist);
        }
        var tree = new RegressionTree([.. feature], [.. threshold], [.. binThreshold], [.. left], [.. right], [.. value]);
        return (tree, leafRows, gains);
    }

    private double[] Rent()
    {
        if (_pool.TryPop(out var h)) return h;
        return new double[_totalBins * 3];
    }

    private unsafe void Build(int[] idx, int start, int count, double[] grad, double[] hess, double[] hist, int[] features)
    {
        foreach (var j in features)
            Array.Clear(hist, _offset[j] * 3, _featureBins.BinCount(j) * 3);
        var nf = features.Length;
        var f = _f;
        Span<int> base3 = nf <= 512 ? stackalloc int[nf] : new int[nf];
        for (var q = 0; q < nf; q++) base3[q] = _offset[features[q]] * 3;
        fixed (byte* bins = _bins)
        fixed (double* h = hist)
        fixed (int* feat = features)
        fixed (int* b3 = base3)
        fixed (int* ix = idx)
        fixed (double* gp = grad, hp = hess)
        {
            for (var k = start; k < start + count; k++)
            {
                var r = ix[k];
                var g = gp[r];
                var hh = hp[r];
                var row = bins + (long)r * f;
                for (var q = 0; q < nf; q++)
                {
                    var p = h + b3[q] + row[feat[q]] * 3;
                    p[0] += g;
                    p[1] += hh;
                    p[2] += 1;
                }
            }
        }
    }

    private void Subtract(double[] parent, double[] child, int[] features)
    {
        foreach (var j in features)
        {
            var from = _offset[j] * 3;
            var to = from + _featureBins.BinCount(j) * 3;
            for (var p = from; p < to; p++) parent[p] -= child[p];
        }
    }

    private int Partition(int[] idx, int start, int count, int feature, byte bin)
    {
        var nLeft = 0;
        var nRight = 0;
        for (var k = start; k < start + count; k++)
        {
            var r = idx[k];
            if (_bins[r * _f + feature] <= bin) idx[start + nLeft++] = r;
            else _scratch[nRight++] = r;
        }
        Array.Copy(_scratch, 0, idx, start + nLeft, nRight);
        return nLeft;
    }

    private void FindSplit(Leaf leaf, int[] features)
    {
        leaf.SplitFeature = -1;
        leaf.Gain = _o.MinGain;
        if (leaf.Depth >= _o.MaxDepth || leaf.Count < 2 * _o.MinSamplesLeaf) return;
        var hist = leaf.Hist!;
        var lambda = _o.L2;
        var parent = leaf.G * leaf.G / (leaf.H + lambda);
        foreach (var j in features)
        {
            var nb = _featureBins.BinCount(j);
            double gl = 0, hl = 0, cl = 0;
            var p = _offset[j] * 3;
            for (var b = 0; b < nb - 1; b++, p += 3)
            {
                gl += hist[p];
                hl += hist[p + 1];
                cl += hist[p + 2];
                if (cl < _o.MinSamplesLeaf || hl < _o.MinHessianLeaf) continue;
                var cr = leaf.Count - cl;
                var hr = leaf.H - hl;
                if (cr < _o.MinSamplesLeaf || hr < _o.MinHessianLeaf) break;
                var gr = leaf.G - gl;
                var gain = gl * gl / (hl + lambda) + gr * gr / (hr + lambda) - parent;
                if (gain > leaf.Gain)
                {
                    leaf.Gain = gain;
                    leaf.SplitFeature = j;
                    leaf.SplitBin = b;
                }
            }
        }
    }
}
