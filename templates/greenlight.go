package templates

// Template names of the greenlight role.
const (
	GreenlightCompose = "greenlight-compose.yml"
	GreenlightDotEnv  = "greenlight.env"
	GreenlightUnit    = "omc-greenlight.service"
	GreenlightNginx   = "greenlight.nginx"
)

// Greenlight is the data of GreenlightCompose, GreenlightUnit and
// GreenlightNginx.
type Greenlight struct {
	Image string // Greenlight's image
	Port  int    // Greenlight on 127.0.0.1
	Dir   string // the compose project's directory
}

// GreenlightEnv is the data of GreenlightDotEnv: the node's BBB and the
// secrets (all of them secret but Endpoint).
type GreenlightEnv struct {
	Endpoint, Secret, SecretKeyBase, PostgresPassword string
}
