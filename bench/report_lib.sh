# shellcheck shell=bash disable=SC2034
# Report helpers shared by bench/run.sh and bench/history_run.sh (sourced
# after the runs, where the caller has an associative array "fig" of the
# figures of each run).  The caller may set, before sourcing:
#   emit_label_width  width of the label column [44]
#   emit_ms_format    printf format of figures in ms [%11.1f]
# Counters the caller reads afterwards: missed, met_count, target_count.

missed=0
met_count=0
target_count=0

median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# emit LABEL UNIT BASELINE OTHER RATIO [OP TARGET]: one line of the table;
# unit x: the figures are ratios themselves
emit() {
    local label=$1 unit=$2 b=$3 o=$4 ratio=$5 op=${6:-} target=${7:-} met='-' tshow='-' fmt='%11.1f'
    [ "$unit" = ms ] && fmt=${emit_ms_format:-%11.1f}
    [ "$unit" = x ] && fmt='%11.3f'
    if [ -n "$op" ]; then
        tshow="$op $target"
        target_count=$(( target_count + 1 ))
        if awk -v r="$ratio" -v t="$target" -v op="$op" \
               'BEGIN { exit !((op == ">=") ? (r >= t) : (r <= t)) }'; then
            met=yes; met_count=$(( met_count + 1 ))
        else
            met=no; missed=1
        fi
    fi
    printf "%-${emit_label_width:-44}s %-4s $fmt $fmt %7s  %-8s %s\n" \
        "$label" "$unit" "$b" "$o" "$ratio" "$tshow" "$met"
}

ratio_of() { awk -v b="$1" -v o="$2" 'BEGIN { printf "%.3f", (b > 0 ? o / b : 0) }'; }
measured() { [ -n "${fig[$1]:-}" ]; }
