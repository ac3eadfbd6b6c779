#!/usr/bin/env bash
# Regenerates every results/coordcheck_*.{csv,json,png} (and *_raw.csv) with the settings they were made with:
# depth 2, relu, eta 0.1, 4 seeds, 3 steps, float64, widths 2^6..2^11 (MFP: depth 1, widths 2^6..2^12).
# The coordcheck command's own default widths are 6..12 and its default --out-dir is results/: pass
# --out-dir runs/... to try it without touching the committed files.
# Exit code 1 of a coordcheck means "FAIL" (expected for the forgotten-readout network), not an error.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results}
C="infwidth coordcheck --seeds 4 --steps 3 --eta 0.1 --out-dir $OUT"
$C --parametrization mup --depth 2 --widths 6..11 --name coordcheck_mup_L2
$C --parametrization sp --depth 2 --c 1 --widths 6..11 --name coordcheck_sp_c1_L2
$C --parametrization sp --depth 2 --widths 6..11 --name coordcheck_sp_c0_L2
$C --parametrization ntp --depth 2 --widths 6..11 --name coordcheck_ntp_L2
$C --parametrization mfp --depth 1 --widths 6..12 --name coordcheck_mfp_L1
$C --parametrization mup --depth 2 --widths 6..11 --build-a "-1/2,0,0" --name coordcheck_mup_forgot_readout_L2
exit 0
