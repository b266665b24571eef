// Package fleet is omc's application layer, between the command line
// (cmd) and the domain (inventory, providers, provision, pool), as
// k0sctl's action package is: each operation takes typed options,
// returns a typed result or a typed error, and reports progress through
// events it is given (the engine's, the providers', the pools'). Nothing
// here prints; cmd renders results and events as text or JSON and maps
// errors to exit codes.
package fleet
