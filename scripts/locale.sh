# Sourced by the scripts that start a throw-away cluster with pg_virtualenv
# (scripts/test.sh, scripts/demo.sh, scripts/oracle.sh, the benchmarks).
#
# They run with whatever locale the user's shell forwards: LANG=en_US.UTF-8
# from a workstation, over ssh, into a minimal Debian that never generated
# it.  pg_createcluster (like initdb) then refuses to create the cluster
# ("The locale requested by the environment is invalid") and perl warns on
# every command.  C.UTF-8 is built into glibc, needs no locale-gen, and is
# what the tests' expected outputs assume (English messages, C collation).
export LC_ALL=C.UTF-8 LANG=C.UTF-8
unset LANGUAGE
