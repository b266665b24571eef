// Command omc builds and runs BigBlueButton hosting fleets.
package main

import (
	"os"

	"github.com/omc-coop/omc/cmd"
	"github.com/omc-coop/omc/internal/ui"
)

func main() {
	os.Exit(cmd.Main(ui.System(), os.Args[1:]))
}
