//! Flags, environment, prompts, output and exit codes.
