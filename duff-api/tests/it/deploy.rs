//! deploy/ artefacts.
