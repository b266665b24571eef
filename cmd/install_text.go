package cmd

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision/roles"
)

// What omc install says to the person at the terminal: the questions for
// missing values, and the summary afterwards.

// writeInstallInfo is the summary: where BBB answers, where its secrets
// are, and what to add for rooms and users.
func writeInstallInfo(w io.Writer, i *fleet.InstallResult) {
	fmt.Fprintf(w, `
BigBlueButton is installed on %s (%s).

  URL         %s
  API URL     %s
  API secret  in %s (mode 0600; on the server: sudo bbb-conf --secret)
  Inventory   %s: "omc plan -i %s" shows drift, "omc up -i %s" repairs or updates
`, i.Domain, i.Host, i.URL, i.APIURL, i.SecretFile, i.Inventory, i.Inventory, i.Inventory)
	if i.LTI != nil {
		fmt.Fprintf(w, `
BBB's LTI framework answers at %slti/. Add it to your LMS as an external
tool (LTI 1.0/1.1) with:

  Launch URL       %s
  Consumer key     %s
  Consumer secret  in %s (mode 0600; on the server: sudo cat %s)
`, i.URL, i.LTI.LaunchURL, i.LTI.Key, i.LTI.SecretFile, roles.LTIRegistrationFile)
	}
	if i.Greenlight {
		fmt.Fprintf(w, `
Greenlight v3 answers at %s. Create its administrator on the server
(sudo docker exec -it greenlight-v3 bundle exec rake admin:create[...]), see
https://docs.bigbluebutton.org/greenlight/v3/install#creating-an-admin-account
`, i.URL)
		return
	}
	fmt.Fprint(w, `
BBB has no front end of its own for rooms and users. Add one:
  - Greenlight, BBB's own front end: https://docs.bigbluebutton.org/greenlight/v3/install
  - or your learning platform's BBB plugin (Moodle, ILIAS, Nextcloud, ...),
    given the API URL and the API secret above.
`)
}

// askMissing prompts for the values a one-off install cannot do without,
// on a terminal only; in CI it names the missing flags.
func askMissing(s *ui.Streams, o *installOptions) error {
	type ask struct {
		flag, question string
		v              *string
	}
	asks := []ask{{"host", "Server address (IP or name)", &o.Host}, {"domain", "Domain BBB will serve (e.g. bbb.school.example)", &o.Domain},
		{"email", "Admin email (for Let's Encrypt)", &o.Email}}
	var missing []string
	for _, a := range asks {
		if *a.v == "" {
			missing = append(missing, "--"+a.flag)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if !s.Interactive() {
		return usageError("omc install needs %s (it asks for them only on a terminal, never in CI)", strings.Join(missing, ", "))
	}
	in := bufio.NewReader(s.In)
	for _, a := range asks {
		for i := 0; *a.v == "" && i < 3; i++ {
			fmt.Fprintf(s.Err, "%s: ", a.question)
			line, err := in.ReadString('\n')
			*a.v = strings.TrimSpace(line)
			if err != nil && *a.v == "" {
				return usageError("no value for --%s", a.flag)
			}
		}
		if *a.v == "" {
			return usageError("no value for --%s", a.flag)
		}
	}
	return nil
}
