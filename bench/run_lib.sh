# shellcheck shell=bash disable=SC2034,SC2154
# Helpers shared by bench/run.sh and bench/history_run.sh while they run
# (bench/report_lib.sh has those of the report).  Sourced once the caller
# has set PGBIN and maint_db.

start=$(date +%s)
log() { printf '== [%4ds] %s\n' "$(( $(date +%s) - start ))" "$*" >&2; }

# drop_db NAME: drop a database of the run, retrying while its sessions end
drop_db() {
    local i
    for i in 1 2 3 4 5; do
        "$PGBIN/psql" -X -q -d "$maint_db" \
            -c "SET tombstone.drop_database = '$1'" \
            -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 && return 0
        [ "$i" = 5 ] && echo "${0##*/}: warning: could not drop database $1" >&2
        sleep 2
    done
    return 1
}

psql_maint() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$maint_db" "$@"; }

# order ROUND ITEM...: odd rounds, the items as given; even rounds, reversed
order() {
    local r=$1; shift
    if (( r % 2 )); then
        echo "$@"
    else
        local rev=() i
        for (( i = $#; i >= 1; i-- )); do rev+=("${!i}"); done
        echo "${rev[@]}"
    fi
}

# CHECKPOINT before a timed run; the caller sets can_checkpoint=0 when its
# role may not
can_checkpoint=1
checkpoint() {
    (( can_checkpoint )) || return 0
    psql_maint -c 'CHECKPOINT' >/dev/null
}

# figures: name -> space-separated per-round values
declare -A fig
