#!/usr/bin/perl
# Checks the shape of the source tree and prints TAP (run by prove from
# scripts/run-suite.sh, or on its own: perl scripts/check-source.pl).
#
#  - layering: src/ is split into layers, lowest first
#        foundation  policy  recording  mechanisms  operations
#    and src/pg_tombstone.c, the entry point, above them all.  A file may
#    include headers of its own layer and below, never above;
#  - no include cycle between subsystems: a subsystem is a .c file and its
#    header (src/policy/guard.c and src/policy/guard.h); one that includes
#    the header of another depends on it, and these dependencies, within a
#    layer too, must not form a cycle;
#  - project headers are included by their path under src/ ("policy/guard.h");
#  - every file opens with a header comment naming its path, and none is
#    longer than 1,200 lines;
#  - one relcache callback: CacheRegisterRelcacheCallback is called once, by
#    the invalidation dispatcher (src/foundation/inval.c);
#  - released extension scripts are frozen: their checksums are those in
#    sql/released.sha256.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Digest::SHA;

my $root = dirname(dirname(abs_path($0)));
chdir $root or die "cannot chdir to $root: $!";

my @layers = qw(foundation policy recording mechanisms operations);
my %rank;
@rank{@layers} = (1 .. @layers);
my $ENTRY_RANK = @layers + 1;
my $MAX_LINES = 1200;

my @files = sort grep { -f } (glob('src/*.c'), glob('src/*.h'),
                             glob('src/*/*.c'), glob('src/*/*.h'));
my @tests;      # [name, ok, diagnostics]

sub layer_of
{
    my ($path) = @_;            # src/<layer>/<file> or src/<file>
    return ($1, $rank{$1}) if $path =~ m{^src/([^/]+)/} && exists $rank{$1};
    return ('entry', $ENTRY_RANK) if $path eq 'src/pg_tombstone.c';
    return (undef, undef);
}

sub module_of
{
    my ($path) = @_;
    (my $m = $path) =~ s{^src/}{};
    $m =~ s{\.[ch]$}{};
    return $m;
}

# --- every file lives in a layer, opens with its header, is not too long
{
    my @bad;
    for my $f (@files)
    {
        my ($layer) = layer_of($f);
        push @bad, "$f is in no layer (folders: @layers)" unless defined $layer;
        open my $fh, '<', $f or die "$f: $!";
        my @lines = <$fh>;
        close $fh;
        push @bad, sprintf("%s has %d lines, more than %d", $f, scalar @lines, $MAX_LINES)
            if @lines > $MAX_LINES;
        my $head = join "", @lines[0 .. ($#lines < 80 ? $#lines : 80)];
        push @bad, "$f does not open with a header comment naming $f"
            unless $head =~ m{\A/\*-+\n} && $head =~ m{^ \* \Q$f\E$}m;
    }
    push @tests, ['every source file is in a layer, opens with a header comment naming it, and has at most 1200 lines', !@bad, \@bad];
}

# --- includes: by path, downward only; subsystems without cycles
my %deps;       # module -> {module => "file:line"}
{
    my (@upward, @bare);
    for my $f (@files)
    {
        my ($layer, $r) = layer_of($f);
        next unless defined $r;
        my $m = module_of($f);
        $deps{$m} //= {};
        open my $fh, '<', $f or die "$f: $!";
        while (my $line = <$fh>)
        {
            next unless $line =~ /^\s*#\s*include\s+"([^"]+)"/;
            my $inc = $1;
            if ($inc =~ m{^([^/]+)/[^/]+\.h$} && exists $rank{$1})
            {
                my $target = "src/$inc";
                if (!-f $target)
                {
                    push @bare, "$f:$.: includes $inc, which does not exist";
                    next;
                }
                push @upward, "$f:$.: layer $layer includes $inc of higher layer $1"
                    if $rank{$1} > $r;
                my $tm = module_of($target);
                $deps{$m}{$tm} = "$f:$." if $tm ne $m;
            }
            elsif (-f "src/$inc" || -f dirname($f) . "/$inc")
            {
                push @bare, "$f:$.: includes project header \"$inc\" other than by its path under src/";
            }
        }
        close $fh;
    }
    push @tests, ['project headers are included by their path under src/', !@bare, \@bare];
    push @tests, ['no file includes a header of a higher layer', !@upward, \@upward];
}

# Depth-first search for a cycle among subsystems
{
    my (%state, @stack, @cycle);
    my $visit;
    $visit = sub {
        my ($m) = @_;
        $state{$m} = 1;
        push @stack, $m;
        for my $d (sort keys %{ $deps{$m} || {} })
        {
            last if @cycle;
            if (($state{$d} // 0) == 1)
            {
                my ($i) = grep { $stack[$_] eq $d } 0 .. $#stack;
                @cycle = (@stack[$i .. $#stack], $d);
            }
            elsif (!$state{$d})
            {
                $visit->($d);
            }
        }
        pop @stack;
        $state{$m} = 2;
    };
    for my $m (sort keys %deps)
    {
        $visit->($m) unless $state{$m} || @cycle;
    }
    my @diag;
    if (@cycle)
    {
        push @diag, 'subsystems include each other in a cycle: ' . join(' -> ', @cycle);
        for my $i (0 .. $#cycle - 1)
        {
            push @diag, "  $cycle[$i] -> $cycle[$i + 1] at $deps{$cycle[$i]}{$cycle[$i + 1]}";
        }
    }
    push @tests, ['subsystems depend on each other without a cycle', !@cycle, \@diag];
}

# --- one relcache callback
{
    my @calls;
    for my $f (@files)
    {
        open my $fh, '<', $f or die "$f: $!";
        while (my $line = <$fh>)
        {
            push @calls, "$f:$." if $line =~ /\bCacheRegisterRelcacheCallback\s*\(/;
        }
        close $fh;
    }
    push @tests, ['CacheRegisterRelcacheCallback is called once, in src/foundation/inval.c',
                  @calls == 1 && $calls[0] =~ m{^src/foundation/inval\.c:}, \@calls];
}

# --- every SQLSTATE of the extension is counted and documented
{
    my (@bad, %codes);
    open my $fh, '<', 'src/foundation/errcodes.h' or die "errcodes.h: $!";
    while (my $line = <$fh>)
    {
        $codes{"TB$1$2$3"} = 1
            if $line =~ /MAKE_SQLSTATE\('T',\s*'B',\s*'(\d)',\s*'(\d)',\s*'(\d)'\)/;
    }
    close $fh;
    local $/;
    open $fh, '<', 'src/foundation/observe.c' or die "observe.c: $!";
    my $observe = <$fh>;
    close $fh;
    open $fh, '<', 'README.md' or die "README.md: $!";
    my ($sqlstates) = (<$fh> =~ /^## SQLSTATEs\n(.*?)^## /ms);
    close $fh;
    $sqlstates //= '';
    for my $code (sort keys %codes)
    {
        push @bad, "$code is not counted in refusal_kinds of src/foundation/observe.c"
            unless $observe =~ /\{"$code",/;
        push @bad, "$code is not in the README's section SQLSTATEs"
            unless $sqlstates =~ /\b$code\b/;
    }
    push @bad, 'src/foundation/errcodes.h defines no SQLSTATE' unless %codes;
    push @tests, ['every SQLSTATE of class TB is counted by tombstone.refusals and listed in the README', !@bad, \@bad];
}

# --- released scripts are frozen
{
    my @bad;
    open my $fh, '<', 'sql/released.sha256' or die "sql/released.sha256: $!";
    my $n = 0;
    while (my $line = <$fh>)
    {
        next unless $line =~ /^([0-9a-f]{64})\s+\*?(\S+)$/;
        my ($sum, $file) = ($1, $2);
        $n++;
        if (!-f $file)
        {
            push @bad, "released script $file is missing";
            next;
        }
        my $now = Digest::SHA->new(256)->addfile($file)->hexdigest;
        push @bad, "released script $file has changed (sha256 $now, released as $sum); ship the change in an upgrade script instead"
            if $now ne $sum;
    }
    close $fh;
    push @bad, 'sql/released.sha256 lists no script' if $n == 0;
    push @tests, ['released extension scripts are unchanged', !@bad, \@bad];
}

printf "1..%d\n", scalar @tests;
my $i = 0;
for my $t (@tests)
{
    my ($name, $ok, $diag) = @$t;
    $i++;
    printf "%s %d - %s\n", ($ok ? 'ok' : 'not ok'), $i, $name;
    print map { "# $_\n" } @$diag unless $ok;
}
exit 0;
