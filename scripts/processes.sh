# shellcheck shell=bash
# Process handling for the scripts that start processes (the demo, the
# fuzzing and benchmark scripts, interop/run-*.sh): every process a script
# starts is stopped before the script ends, whether it succeeds, fails, or is
# stopped by Ctrl-C or SIGTERM. Sourced, not run:
#
#     . "$(dirname "${BASH_SOURCE[0]}")/processes.sh"          # from scripts/
#     . "$repo/scripts/processes.sh"                            # from elsewhere
#
# at_exit FUNCTION
#     Sets the traps: on exit, whatever the cause, runs FUNCTION (which stops
#     the script's processes and removes its temporary files), with Ctrl-C and
#     SIGTERM ignored meanwhile, then exits with the status the script was
#     exiting with. Ctrl-C makes the script exit with 130 and SIGTERM with 143
#     (128 + the signal's number, as a shell killed by it would).
#
# run COMMAND...
#     Runs COMMAND in the background and waits for it, its process id in
#     `step` meanwhile (empty otherwise, for FUNCTION to stop it); returns its
#     exit status. A trap runs only once a foreground command has ended,
#     while `wait` gives way to it at once: so Ctrl-C or SIGTERM stop the
#     script at once, and the clean-up stops COMMAND. (This also holds for a
#     command under `timeout`, which puts it in a process group of its own,
#     out of reach of Ctrl-C; `timeout` passes the SIGTERM on.)
#
# stop_children PID...
#     Stops the given processes (children of this shell): SIGTERM (and
#     SIGCONT, for a stopped one), SIGKILL to whatever still runs 5 s later;
#     then reaps them.
#
# stop_processes PID...
#     The same for the given processes and all their descendants (cargo, what
#     it runs, and what that starts in turn), as the process table has them
#     when it is called.
#
# with_descendants PID...
#     Prints the given process ids and those of all their descendants.
#
# running PID...
#     Prints those of the given process ids that still run (not yet exited).

step="" # process id of the command `run` waits for

at_exit() {
    _at_exit_function=$1
    trap _at_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

_at_exit() {
    local status=$?
    set +e
    trap '' INT TERM # a second Ctrl-C must not cut the clean-up short
    "$_at_exit_function"
    exit "$status"
}

run() {
    "$@" &
    step=$!
    local status=0
    wait "$step" || status=$?
    step=""
    return "$status"
}

with_descendants() {
    ps -e -o pid= -o ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            do {
                grew = 0
                for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; grew = 1 }
            } while (grew)
            for (p in keep) print p
        }'
}

running() {
    ps -o pid= -o stat= -p "$(echo "$*" | tr ' ' ,)" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

stop_children() {
    [ $# -gt 0 ] || return 0
    _stop "$*" "$@"
}

stop_processes() {
    [ $# -gt 0 ] || return 0
    _stop "$(with_descendants "$@")" "$@"
}

# _stop ALL PID...: stops the processes ALL lists (process ids, separated
# by spaces), then reaps PID..., the children of this shell among them.
_stop() {
    local all=$1 left="" p
    shift
    # shellcheck disable=SC2086 # a list of process ids
    kill -TERM $all 2>/dev/null
    # shellcheck disable=SC2086 # (a stopped process acts on SIGTERM once continued)
    kill -CONT $all 2>/dev/null
    for _ in $(seq 50); do
        # shellcheck disable=SC2086
        left=$(running $all)
        [ -z "$left" ] && break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    [ -z "$left" ] || kill -KILL $left 2>/dev/null
    for p in "$@"; do wait "$p" 2>/dev/null; done
}
