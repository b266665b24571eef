package remote

import "github.com/omc-coop/omc/internal/shell"

// The host's side of a Shell. sshd does not end a command when its client
// goes: without a terminal nobody sends a hangup, so a shell waiting for a
// long script would hold the host's lock (and the script would go on) until
// the script ended by itself. So the session is three processes:
//
//	top:      /bin/sh -c 'WATCHDOG | { read pid; /bin/sh; kill pid; }'
//	watchdog: forwards the session's stdin to the shell (cat)
//	shell:    runs the scripts and holds the lock (fd 9)
//
// When the shell exits (its stdin ended while idle, or it died), the
// top process ends the watchdog, and the session ends as before. When the
// session's stdin ends while the shell is busy, the client is gone: its
// channel was closed (the run was cancelled) or its connection dropped
// (omc killed, or the network gone and sshd noticed). The watchdog then
// sends TERM to every process of the SSH session (processes that called
// setsid, i.e. daemons, are not in it), and KILL to what is left after
// termGrace. The shell catches TERM, so it keeps the lock until its script
// has ended, and exits right after.

// termGrace is how long the watchdog waits between TERM and KILL, in
// half seconds (plus the time to look through /proc between them).
const termGrace = "10"

// watchdog is the script of the watchdog process. Its first line of output
// is its pid, for the top process; the second makes the shell catch TERM
// (a caught signal is reset to default in the scripts' subshells); then
// comes the shell's first input when the exec carried one ($1), then the
// session's input.
const watchdog = `echo $$
echo 'trap : TERM'
printf '%s' "$1"
set --
trap 'omc_bye=1; kill $omc_cat $omc_s' TERM
exec 3<&0 </dev/null
cat <&3 3<&- & omc_cat=$!
exec 3<&-
[ -n "$omc_bye" ] || wait $omc_cat
if [ -z "$omc_bye" ]; then
	# The shell, if idle, exits at end of input, and the top process
	# then ends this one (omc_bye): give it a second.
	exec >&-
	sleep 1 & omc_s=$!
	[ -n "$omc_bye" ] || wait $omc_s
	kill $omc_s
fi
if [ -n "$omc_bye" ]; then
	kill $omc_cat
	exit 0
fi
trap '' TERM HUP INT PIPE
if ! read -r omc_st </proc/$$/stat; then
	kill -TERM 0; sleep 5; kill -KILL 0
fi
set -- ${omc_st##*) }
omc_sid=$4
# omc_kill sends omc_sig to the other live processes of this session; it
# fails when there are none.
omc_kill() {
	omc_left=1
	for omc_p in /proc/[0-9]*; do
		omc_p=${omc_p#/proc/}
		[ "$omc_p" != $$ ] && read -r omc_st <"/proc/$omc_p/stat" || continue
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
exit 0`

// sessionScript is what the session's /bin/sh runs.
var sessionScript = `/bin/sh -c ` + shell.Quote(watchdog) + ` sh "$1" 2>/dev/null | { read -r omc_wd; /bin/sh; omc_rc=$?; kill "$omc_wd" 2>/dev/null; exit $omc_rc; }`

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
