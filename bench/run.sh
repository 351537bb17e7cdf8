#!/usr/bin/env bash
# Storage benchmark: Zhizao vs SQLite, PostgreSQL 15 and InfluxDB 1.6 on the same generated data, one run.
# usage: bash bench/run.sh [smoke|quick|full] [more flags, see --help in bench/Zhizao.Bench/BenchOptions.cs]
set -euo pipefail
profile="${1:-quick}"
shift || true
cd "$(dirname "$0")/.."
dotnet build bench/Zhizao.Bench -c Release -nologo -v q
exec dotnet run -c Release --no-build --project bench/Zhizao.Bench -- storage --profile "$profile" "$@"
