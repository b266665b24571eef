package templates

// The greenlight role's samples join the shared table, so TestGolden
// pins them like every other template.
func init() {
	samples[GreenlightCompose] = Greenlight{Image: "bigbluebutton/greenlight:v3", Port: 5050}
	samples[GreenlightDotEnv] = GreenlightEnv{Endpoint: "https://bbb-1.example.org/bigbluebutton/", Secret: fakeSecret,
		SecretKeyBase: fakeSecret + "-key-base", PostgresPassword: fakeSecret + "-pg"}
	samples[GreenlightUnit] = Greenlight{Dir: "/opt/greenlight-v3"}
	samples[GreenlightNginx] = Greenlight{Port: 5050}
}
