package supervisor

// arm64 has only the *at path syscalls.

func registerLegacyOpen(*Supervisor) {}

func registerLegacyMeta(*Supervisor) {}
