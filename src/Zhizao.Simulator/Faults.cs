namespace Zhizao.Simulator;

/// <summary>Kinds of degradation and failure the simulator seeds and records as ground truth.</summary>
public enum FaultKind
{
    /// <summary>Rolling-element bearing wear: vibration and bearing/motor temperature rise, then seizure.</summary>
    BearingWear = 1,

    /// <summary>Fouling (strainer, cooler, belt build-up, blocked cooling): flow or efficiency falls, temperature rises.</summary>
    Fouling = 2,

    /// <summary>A sensor reads off by a slowly growing offset; the process is fine but the data lies. Never fails.</summary>
    SensorDrift = 3,

    /// <summary>Abnormal cutting-tool wear (chipping): load, vibration and scrap rise, ending in tool breakage.</summary>
    ToolWear = 4,

    /// <summary>A leak (compressed-air network, hydraulic circuit): more load or lower pressure, longer cycles.</summary>
    Leak = 5,

    /// <summary>Heater element degradation: duty rises to hold setpoint, then the zone sags, then burns out.</summary>
    HeaterDegradation = 6,

    /// <summary>A random breakdown with no precursor (onset equals failure).</summary>
    Breakdown = 7,
}

/// <summary>
/// Ground truth of one fault instance, for training and scoring AI apps. Times are Unix nanoseconds.
/// <see cref="FailureNs"/> is when the fault stopped the machine (null while it has not, and always for sensor drift);
/// <see cref="EndNs"/> is when repair or recalibration cleared it (null while active).
/// </summary>
public sealed record GroundTruthEvent(
    long Id,
    string MachineId,
    FaultKind Kind,
    long OnsetNs,
    long? FailureNs,
    long? EndNs,
    bool Injected,
    string Description);
