//! `domino-sim`: an in-memory Domino deployment served over HTTP on loopback.
