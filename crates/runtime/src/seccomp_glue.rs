//! The runtime's calls into the seccomp module, with errors mapped to ours.

use oci_spec::runtime::LinuxSeccomp;

use crate::{Error, Result};

/// A compiled filter plus the spec's filter flags.
pub(crate) struct Filter {
    program: seccompiler::BpfProgram,
    flags: Vec<oci_spec::runtime::LinuxSeccompFilterFlag>,
}

/// Compiles the spec's filter (in the parent, before clone, so errors surface early).
pub(crate) fn compile(s: &LinuxSeccomp) -> Result<Filter> {
    let program = crate::seccomp::compile(s).map_err(|e| Error::Seccomp { source: e.into() })?;
    Ok(Filter {
        program,
        flags: s.flags().clone().unwrap_or_default(),
    })
}

/// Loads a compiled filter into the calling process (needs no_new_privs or CAP_SYS_ADMIN).
pub(crate) fn apply(f: &Filter) -> Result<()> {
    crate::seccomp::apply_with_flags(&f.program, &f.flags)
        .map_err(|e| Error::Seccomp { source: e.into() })
}
