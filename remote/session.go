package remote

import "github.com/omc-coop/omc/internal/shell"

// The host's side of a Shell. sshd does not end a command when its client
// goes: without a terminal nobody sends a hangup, so a shell waiting for a
// long script would hold the host's lock (and the script would go on) until
// the script ended by itself. So while a script runs, a watcher waits for
// the end of the session's input; the client is gone when it comes: its
// channel was closed (the run was cancelled) or its connection dropped
// (omc killed, or the network gone and sshd noticed). The watcher then
// starts a sweeper, which sends TERM to every process of the session but
// the shell and its parents (processes that called setsid, i.e. daemons,
// are not in it), and KILL to what is left after termGrace. The sweeper
// holds the lock (fd 9, shared with the shell) until then, so the next run
// gets it only once the script's processes have ended; the shell, its
// script ended, finds its input ended and exits.
//
// The session is a single /bin/sh (sessionScript), which runs the first
// input the exec carried and then reads the rest from its input. The
// watcher is a fork of it, started with each script and killed when the
// script ends, so a session costs the host one process more per script
// than the scripts themselves, and none while idle: the end of input then
// ends the shell itself. (It is killed with KILL: a signal the shell does
// not catch, so it cannot reach the fork before the fork is ready for it;
// the sweeper is a process of its own so that the kill does not stop it.)
//
// The watcher may read the session's input (fd 8, a copy of fd 0: the
// shell's asynchronous commands get /dev/null as fd 0) only because
// nothing is there to read while a script runs: every input is one
// compound command ({ ...; }, see compose), which the shell reads whole
// before it runs any of it, and the client sends the next one only once
// it has the answers to this one.

// termGrace is how long the sweeper waits between TERM and KILL, in half
// seconds (plus the time to look through /proc between them).
const termGrace = "10"

// watcher defines omc_watch, which each script runs with (see subshell),
// as an asynchronous command with stdout and stderr closed, so that it
// holds nothing of the session's but the lock.
const watcher = `omc_watch() {
	read -r omc_x <&8
	if ! read -r omc_st </proc/self/stat; then
		kill -TERM 0; sleep 5; kill -KILL 0; exit 0
	fi
	omc_keep=${omc_st%% *}
	set -- ${omc_st##*) }
	omc_sid=$4 omc_p=$2
	# The shell (the parent) and its parents in the session (sudo) stay.
	while [ "$omc_p" -gt 1 ] && read -r omc_st <"/proc/$omc_p/stat"; do
		set -- ${omc_st##*) }
		[ "$4" = "$omc_sid" ] || break
		omc_keep="$omc_keep $omc_p" omc_p=$2
	done
	omc_sweep 8<&- &
	exit 0
}
omc_sweep() {
	trap '' TERM HUP INT PIPE
	read -r omc_st </proc/self/stat && omc_keep="$omc_keep ${omc_st%% *}"
	# omc_kill sends omc_sig to the session's other live processes; it
	# fails when there are none.
	omc_kill() {
		omc_left=1
		for omc_p in /proc/[0-9]*; do
			omc_p=${omc_p#/proc/}
			case " $omc_keep " in *" $omc_p "*) continue ;; esac
			read -r omc_st <"/proc/$omc_p/stat" || continue
			set -- ${omc_st##*) }
			[ "$4" = "$omc_sid" ] && [ "$1" != Z ] && kill -$omc_sig $omc_p && omc_left=0
		done
		return $omc_left
	}
	omc_sig=TERM
	omc_kill
	omc_sig=0
	omc_i=0
	while [ $omc_i -lt ` + termGrace + ` ] && omc_kill; do
		sleep 0.5 || sleep 1
		omc_i=$((omc_i + 1))
	done
	omc_sig=KILL
	omc_kill
	exit 0
}
`

// sessionScript is what the session's /bin/sh runs: the exec's first
// input ($1), then the rest from its input: dash reads and runs a file
// given to "." a command at a time, so it reads the session's input itself;
// other shells (bash reads such a file whole first) hand it to a new
// /bin/sh, an exec more.
const sessionScript = `exec 8<&0
eval "$1"
if [ /proc/self/exe -ef /bin/dash ] && [ -r /dev/stdin ]; then
	set --
	. /dev/stdin
else
	exec /bin/sh -s
fi`

// cleanPath is the PATH scripts run with.
const cleanPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// shellCommand is the one exec a host gets for its scripts: the session
// above, with a clean environment, through sudo when asked; first is the
// shell's first input ("" for none).
func shellCommand(sudo bool, first string) string {
	arg := ""
	if first != "" {
		arg = " sh " + shell.Quote(first)
	}
	if sudo {
		return "exec sudo -n env -i PATH=" + cleanPath + " LC_ALL=C.UTF-8 HOME=/root /bin/sh -c " + shell.Quote(sessionScript) + arg
	}
	return "exec env -i PATH=" + cleanPath + ` LC_ALL=C.UTF-8 HOME="$HOME" /bin/sh -c ` + shell.Quote(sessionScript) + arg
}
