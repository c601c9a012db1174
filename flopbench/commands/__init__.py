"""One module per subcommand, in the order people use them. Each has NAME, HELP, DESCRIPTION,
add_arguments(parser) and main(args) -> exit status."""

from flopbench.commands import (
    ab,
    atlas,
    calibrate,
    compare,
    count,
    count_model,
    explain,
    export,
    peak,
    plot,
    predict,
    profile_model,
    report,
    run,
    upgrade,
)

COMMANDS = (
    count,
    count_model,
    explain,
    profile_model,
    peak,
    run,
    plot,
    compare,
    ab,
    atlas,
    predict,
    calibrate,
    report,
    export,
    upgrade,
)
