namespace Zhizao.Simulator;
