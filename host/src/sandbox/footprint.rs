//! What a module is (its guest form, told by its header) and what one
//! instance of it takes from the pooling allocator, counted when it is
//! compiled so that a module that could not fit is refused at load, not on
//! every event.

use wasmtime::Module;
use wasmtime::component::Component;

use super::error::SandboxError;

/// A Wasm page: the unit of a memory's declared minimum.
const WASM_PAGE: u64 = 64 << 10;

/// What every instance may take from the pool, whatever its form: the pool
/// holds `--max-instances` times this.
///
/// Measured (wasmtime 48): a Rust component instantiates 3 core instances,
/// a componentize-js one 4, a componentize-py one 15 (39 with
/// `--stub-wasi`), a WASI command 1. Core instances cost the pool nothing
/// but a counter (wasmtime allocates their state on demand), so their budget
/// is generous; every memory slot reserves address space (4 GiB + guard) and
/// every table slot its elements, so those budgets stay near what the
/// biggest guest measured uses.
pub(super) const PER_INSTANCE: Budget = Budget {
    core_instances: 64,
    memories: 2,
    tables: 4,
};

/// Pool resources per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// Core module instances.
    pub(super) core_instances: u32,
    /// Linear memories defined by those instances.
    pub(super) memories: u32,
    /// Tables defined by those instances.
    pub(super) tables: u32,
}

/// The accepted forms of a function module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestForm {
    /// A `wasmfn:function` component (the Rust, Python or JavaScript SDK):
    /// `handle` is called once per event.
    Component,
    /// A core wasm32-wasi (preview 1) module exporting `_start`: run as a
    /// command per event, the event on stdin, output events on stdout.
    Command,
}

/// The header of a core module: `\0asm`, version 1.
const CORE_HEADER: [u8; 8] = *b"\0asm\x01\0\0\0";
/// The header of a component: `\0asm`, version 0x0d, layer 1.
const COMPONENT_HEADER: [u8; 8] = *b"\0asm\x0d\0\x01\0";

/// What the host accepts, for errors about anything else.
pub const ACCEPTED_FORMS: &str = "a function module must be one of: a wasmfn:function \
     component built with the Rust SDK (wasm32-wasip2), a wasmfn:function component built with \
     the Python or JavaScript SDK (componentize-py, componentize-js), or a wasm32-wasi (preview 1) \
     command module exporting `_start`";

impl GuestForm {
    /// The form of `bytes`, by its 8-byte header; anything else (WAT text,
    /// another Wasm version, not Wasm at all) is refused naming the forms
    /// accepted, without quoting the file.
    pub fn of(bytes: &[u8]) -> Result<GuestForm, String> {
        match bytes.get(..8) {
            Some(header) if header == CORE_HEADER => Ok(GuestForm::Command),
            Some(header) if header == COMPONENT_HEADER => Ok(GuestForm::Component),
            Some(header) if header.starts_with(b"\0asm") => Err(format!(
                "unsupported Wasm binary version {:02x?}; {ACCEPTED_FORMS}",
                &header[4..]
            )),
            _ => Err(format!("not a Wasm binary; {ACCEPTED_FORMS}")),
        }
    }
}

/// What one instance of a compiled module takes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Footprint {
    pub(super) form: GuestForm,
    pub(super) needs: Budget,
    /// The largest declared minimum of its memories, in bytes.
    pub(super) min_memory_bytes: u64,
}

impl Footprint {
    /// The footprint of `component` (compiled from `bytes`).
    pub(super) fn of_component(
        component: &Component,
        bytes: &[u8],
    ) -> Result<Footprint, SandboxError> {
        // `None` only when a component instantiates an imported module,
        // which the host never supplies: linking refuses it anyway.
        let resources = component.resources_required().ok_or_else(|| {
            SandboxError::Compile("the component instantiates an imported core module".into())
        })?;
        Ok(Footprint {
            form: GuestForm::Component,
            needs: Budget {
                core_instances: core_instances(bytes).map_err(SandboxError::Compile)?,
                memories: resources.num_memories,
                tables: resources.num_tables,
            },
            min_memory_bytes: resources.max_initial_memory_size.unwrap_or(0) * WASM_PAGE,
        })
    }

    /// Refuses `bytes` before compiling when a memory it defines starts
    /// bigger than `max_memory_bytes` (`--memory-mb`): wasmtime would refuse
    /// it too, but without naming the flag.
    pub(super) fn check_min_memory(
        bytes: &[u8],
        max_memory_bytes: usize,
    ) -> Result<(), SandboxError> {
        let minimum = min_memory_bytes(bytes).map_err(SandboxError::Compile)?;
        if minimum > max_memory_bytes as u64 {
            return Err(SandboxError::Compile(format!(
                "its memory starts at {minimum} bytes, over the host's memory limit of {} MiB; raise --memory-mb (WASMFN_MEMORY_MB) to at least {}",
                max_memory_bytes >> 20,
                minimum.div_ceil(1 << 20)
            )));
        }
        Ok(())
    }

    /// The footprint of a WASI command, which must export `_start`.
    pub(super) fn of_command(module: &Module) -> Result<Footprint, SandboxError> {
        match module.get_export("_start") {
            Some(wasmtime::ExternType::Func(ty))
                if ty.params().len() == 0 && ty.results().len() == 0 => {}
            _ => {
                return Err(SandboxError::Compile(format!(
                    "a core module must be a WASI command exporting `_start: func()` (build it with `clang --target=wasm32-wasi` and a `main`); {ACCEPTED_FORMS}"
                )));
            }
        }
        let resources = module.resources_required();
        Ok(Footprint {
            form: GuestForm::Command,
            needs: Budget {
                core_instances: 1,
                memories: resources.num_memories,
                tables: resources.num_tables,
            },
            min_memory_bytes: resources.max_initial_memory_size.unwrap_or(0) * WASM_PAGE,
        })
    }

    /// Refuses a module that one pool slot cannot hold.
    pub(super) fn fits(&self) -> Result<(), SandboxError> {
        let (needs, budget) = (self.needs, PER_INSTANCE);
        let over = [
            (
                "core instances",
                needs.core_instances,
                budget.core_instances,
            ),
            ("memories", needs.memories, budget.memories),
            ("tables", needs.tables, budget.tables),
        ]
        .into_iter()
        .find(|(_, need, allowed)| need > allowed);
        if let Some((what, need, allowed)) = over {
            return Err(SandboxError::Compile(format!(
                "one instance needs {need} {what}; the host allows {allowed} per instance"
            )));
        }
        Ok(())
    }
}

/// How many core instances one instantiation of the component `bytes`
/// creates: every `instantiate` in its core-instance sections, nested
/// components included (each counted once: the guests' toolchains
/// instantiate a nested component at most once).
fn core_instances(bytes: &[u8]) -> Result<u32, String> {
    let mut count = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::InstanceSection(reader) =
            payload.map_err(|err| err.to_string())?
        {
            for instance in reader {
                if let wasmparser::Instance::Instantiate { .. } =
                    instance.map_err(|err| err.to_string())?
                {
                    count += 1;
                }
            }
        }
    }
    Ok(count)
}

/// The largest declared minimum of the memories `bytes` defines (nested
/// modules included), in bytes.
fn min_memory_bytes(bytes: &[u8]) -> Result<u64, String> {
    let mut minimum = 0;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let wasmparser::Payload::MemorySection(reader) =
            payload.map_err(|err| err.to_string())?
        {
            for memory in reader {
                let memory = memory.map_err(|err| err.to_string())?;
                let page = memory.page_size_log2.map_or(WASM_PAGE, |log2| 1 << log2);
                minimum = minimum.max(memory.initial.saturating_mul(page));
            }
        }
    }
    Ok(minimum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_tells_the_form_and_anything_else_names_the_accepted_forms() {
        assert_eq!(
            GuestForm::of(b"\0asm\x01\0\0\0rest"),
            Ok(GuestForm::Command)
        );
        assert_eq!(
            GuestForm::of(b"\0asm\x0d\0\x01\0rest"),
            Ok(GuestForm::Component)
        );
        for bad in [
            &b"(module)"[..],
            b"root:x:0:0:root:/root:/bin/bash",
            b"\0asm\x02\0\0\0",
            b"",
        ] {
            let err = GuestForm::of(bad).unwrap_err();
            assert!(
                err.contains("Rust SDK")
                    && err.contains("Python or JavaScript")
                    && err.contains("`_start`"),
                "{err}"
            );
            assert!(!err.contains("root"), "quotes the file: {err}");
        }
    }
}
