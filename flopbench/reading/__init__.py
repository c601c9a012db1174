"""The reading half: one view of a run, the FLOPs-versus-latency analysis, comparisons, the predictors, figures
and the report. It reads results files (flopbench.results) and never imports the measuring half."""
