package templates

// Template names of the lti role (BBB's LTI framework).
const (
	LTICompose   = "lti-compose.yml"
	LTIDotEnv    = "lti.env"
	LTIBrokerEnv = "lti-broker.env"
	LTIRoomsEnv  = "lti-rooms.env"
	LTIRegister  = "lti-registration.env"
	LTIUnit      = "omc-lti.service"
	LTINginx     = "lti.nginx"
)

// LTI is the data of LTICompose, LTIUnit and LTINginx.
type LTI struct {
	BrokerImage, RoomsImage string
	BrokerPort, RoomsPort   int    // on 127.0.0.1
	Dir                     string // the compose project's directory
}

// LTIEnv is the data of LTIDotEnv, LTIBrokerEnv and LTIRoomsEnv: the
// node's domain and BBB, and the secrets (all of them secret but Host and
// Endpoint).
type LTIEnv struct {
	Host, Endpoint, Secret string
	SecretKeyBase          string // the app's own
	PostgresPassword       string
	OAuthKey, OAuthSecret  string // the rooms app's credentials with the broker
}

// LTIRegistration is the data of LTIRegister: what omc registers with the
// broker, shell-quoted (the registration sources the file).
type LTIRegistration struct {
	App, Callback         string
	OAuthKey, OAuthSecret string
	Key, Secret           string // the consumer's (the LMS's) key and secret
	LaunchURL             string
}
