package storage

// SecretModeError is secretModeError, for the table test of the rule.
var SecretModeError = secretModeError
