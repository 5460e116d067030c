//! Running: calls into the guest, resuming, stack limits, timeouts and the kill switch,
//! and turning how the guest left into a `RunResult` or an error.

use super::core::{Instance, Pending, State};
use super::link::LINK_GENERATION;
use super::tags::Uncaught;
use crate::error::{Error, FaultDetails, TerminationDetails};
use crate::exec::kill_switch::KillSwitch;
use crate::exec::{Entry, ExecState, FaultRanges, GuestExit, GuestStack, Left, TrapLookup};
use crate::val::{RunResult, UntypedRetVal, Val, YieldedVal};
use lucet_module::{FuncRef, FuncType, ValType, VmctxHeader, VALUE_SLOT_SIZE};
use std::any::Any;
use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

#[cold]
fn memory_borrowed_error() -> Error {
    Error::InvalidArgument(
        "a hostcall up the stack holds a view of a memory this run can write (Vmctx::heap or heap_mut); drop it \
         before running a linked instance"
            .into(),
    )
}

/// What a call needs to know about its function's signature: its module type, how many
/// value slots it uses, and the trampoline that calls it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallSig {
    pub(crate) type_index: u32,
    pub(crate) n_slots: usize,
    pub(crate) trampoline: *const u8,
}

impl CallSig {
    /// The signature of a call to function `index` of `module`.
    pub(crate) fn of(module: &dyn crate::module::Module, index: u32) -> CallSig {
        let data = module.module_data();
        let type_index = data.functions[index as usize].type_index;
        let ty: &FuncType = &data.types[type_index as usize];
        CallSig {
            type_index,
            n_slots: ty.params.len().max(ty.results.len()).max(1),
            trampoline: module.as_dl_module().trampoline(type_index),
        }
    }
}

impl Instance {
    // ---- running ----

    /// Runs the exported function `entrypoint` with `args`.
    pub fn run(&mut self, entrypoint: &str, args: &[Val]) -> Result<RunResult, Error> {
        let index = self.export_func_index(entrypoint)?;
        self.call_index(index, args)
    }

    /// Runs a function by its index in the module's function index space.
    pub fn run_func_index(&mut self, index: u32, args: &[Val]) -> Result<RunResult, Error> {
        if index as usize >= self.data().functions.len() {
            return Err(Error::SymbolNotFound(format!("the module has no function with index {index}")));
        }
        self.call_index(index, args)
    }

    /// Runs the module's start function if instantiation has not already done so.
    /// (Instantiation runs it, as WebAssembly requires, so this is normally a no-op.)
    pub fn run_start(&mut self) -> Result<(), Error> {
        if self.start_ran {
            return Ok(());
        }
        self.start_ran = true;
        match self.data().start {
            Some(s) => self.call_index(s, &[]).map(|_| ()),
            None => Ok(()),
        }
    }

    #[inline]
    pub(crate) fn check_runnable(&self) -> Result<(), Error> {
        // A trap ends only the call that trapped (WebAssembly semantics, and the original
        // Lucet's behaviour for non-fatal faults): memory, tables and globals keep their
        // state and the instance can run again. Compared, not matched: a `match` over the
        // four states compiles to a jump table, an indirect jump on every call.
        if matches!(self.state, State::Ready | State::Faulted) {
            return Ok(());
        }
        Err(self.not_runnable())
    }

    /// Why an instance that is neither ready nor faulted cannot run.
    #[cold]
    fn not_runnable(&self) -> Error {
        match &self.state {
            State::Terminated => Error::InstanceNeedsReset("it was terminated".into()),
            State::Yielded | State::Ready | State::Faulted => Error::InstanceNotReturned,
        }
    }

    pub(crate) fn call_index(&mut self, index: u32, args: &[Val]) -> Result<RunResult, Error> {
        self.check_runnable()?;
        // Nothing here allocates on the way in: this is the host->guest call path.
        let data = self.module.module_data();
        let ty: &FuncType = &data.types[data.functions[index as usize].type_index as usize];
        let coerced = args.iter().zip(&ty.params).position(|(a, t)| a.coerce(*t).is_err());
        if args.len() != ty.params.len() || coerced.is_some() {
            return Err(self.argument_error(index, ty, args, coerced));
        }
        if args.iter().any(|a| matches!(a, Val::FuncRef(_))) {
            for a in args {
                self.check_funcref(a)?;
            }
        }
        let left = self.call_prepared(index, |slots, params| {
            for ((slot, a), t) in slots.iter_mut().zip(args).zip(params) {
                // Checked above; a failure here could only repeat the same answer.
                *slot = a.coerce(*t).unwrap_or(*a).to_slot();
            }
        })?;
        let exit = self.exec.exit(left);
        self.finish(exit)
    }

    /// Enters function `index` with the value slots filled by `write_args` (given the
    /// slots and the parameter types); returns how the guest left, in brief (the rest
    /// is in `self.exec`, see `ExecState::exit`).
    #[inline]
    pub(crate) fn call_prepared(
        &mut self,
        index: u32,
        write_args: impl FnOnce(&mut [[u8; VALUE_SLOT_SIZE]], &[ValType]),
    ) -> Result<Left, Error> {
        let sig = CallSig::of(&*self.module, index);
        let ty: &FuncType = &self.module.module_data().types[sig.type_index as usize];
        // The parameter types, past the borrow of `self` that `call_resolved` needs.
        let params: *const [ValType] = &ty.params[..];
        self.set_pending(sig);
        // SAFETY: the module's type table, which `self.module` keeps alive and nothing
        // changes; `call_resolved` does not touch the module.
        let left = self.call_resolved(index, sig, |slots| write_args(slots, unsafe { &*params }));
        if left.is_err() {
            self.pending = None;
        }
        left
    }

    /// Records the call in progress, which `finish` reads once the guest has returned
    /// (possibly after yields and resumes).
    #[inline]
    pub(crate) fn set_pending(&mut self, sig: CallSig) {
        self.n_slots = sig.n_slots;
        self.pending = Some(Pending { type_index: sig.type_index });
    }

    /// `call_prepared` with the signature already looked up, as `TypedFunc` keeps it.
    /// `sig` must describe function `index` of this instance's module. Does not record
    /// the call (`set_pending`): a typed call that returns needs no record, and one that
    /// does not records it before `finish` (`not_returned`).
    #[inline(always)]
    pub(crate) fn call_resolved(
        &mut self,
        index: u32,
        sig: CallSig,
        write_args: impl FnOnce(&mut [[u8; VALUE_SLOT_SIZE]]),
    ) -> Result<Left, Error> {
        // The slots are neither cleared nor shrunk: the trampoline reads only the
        // parameters, written here, and the caller only the results it wrote. Within the
        // capacity reserved at instantiation, the rare growth does not allocate either.
        let slots = match self.values.get_mut(..sig.n_slots) {
            Some(slots) => slots,
            None => self.grow_values(sig.n_slots),
        };
        write_args(slots);
        // SAFETY: funcref of a valid function index, filled at instantiation.
        let fr = unsafe { *self.funcref_ptr(index) };
        if self.link_gen != LINK_GENERATION.load(Ordering::Relaxed) {
            self.relink();
        }
        // `check_no_memory_borrowed`, `set_stack_limits` and `restore_stack_limits`,
        // written out so that the list of linked instances is looked at once: nothing
        // changes it while the guest runs (`relink` runs only before an entry). Calling
        // the three instead made the typed empty call 1.03 of Wasmtime's against 0.97
        // (five alternating runs each, interleaved); the untyped and resume paths use them.
        let linked = !self.linked_vmctxs.is_empty();
        if self.heap_borrow.try_borrow_mut().is_err() || (linked && self.linked_memory_borrowed()) {
            return Err(memory_borrowed_error());
        }
        let limit = self.own_stack_limit();
        // SAFETY: our own vmctx, alive as long as we are; only its header is touched.
        unsafe {
            let h = self.vmctx as *mut VmctxHeader;
            self.saved_own_limit = (*h).stack_limit;
            (*h).stack_limit = limit;
        }
        if linked {
            self.set_linked_stack_limits(limit);
        }
        if !self.exec.stack_bound() {
            // Once per instance: its stack never changes.
            let stack = self.guest_stack();
            self.exec.bind_stack(&stack);
        }
        let values = self.values.as_mut_ptr();
        let entry = Entry { trampoline: sig.trampoline, vmctx: fr.vmctx, callee: fr.func_ptr, values };
        let left = self.enter(|exec, lookup, faults| {
            // SAFETY: the entry was built from this module's trampoline and a funcref of
            // the right type; the stack is this slot's, unused by anyone else.
            unsafe { exec.call(entry, lookup, faults) }
        });
        if linked {
            self.restore_linked_stack_limits();
        }
        // SAFETY: our own vmctx, as above.
        unsafe { (*(self.vmctx as *mut VmctxHeader)).stack_limit = self.saved_own_limit };
        Ok(left)
    }

    #[cold]
    fn grow_values(&mut self, n_slots: usize) -> &mut [[u8; VALUE_SLOT_SIZE]] {
        self.values.resize(n_slots, [0u8; VALUE_SLOT_SIZE]);
        &mut self.values[..]
    }

    /// Why `args` cannot be passed to function `index` of type `ty`: a wrong count, or
    /// argument `bad` that does not fit its parameter.
    #[cold]
    pub(super) fn argument_error(&self, index: u32, ty: &FuncType, args: &[Val], bad: Option<usize>) -> Error {
        let name = self.dl().function_name(index);
        let got: Vec<&str> = args.iter().map(|a| a.type_name()).collect();
        let mut msg = format!("function `{name}` has signature {ty}, but was called with ({})", got.join(", "));
        if let Some(i) = bad {
            let (a, t) = (args[i], ty.params[i]);
            let why = match a.coerce(t) {
                Err(crate::val::ValMismatch::Range) => "does not fit in",
                _ => "cannot be passed as",
            };
            msg.push_str(&format!(
                ": argument {i} ({} {a}) {why} {t}; pass a value of the parameter's type, e.g. `Val::{}`",
                a.type_name(),
                match t {
                    lucet_module::ValType::I32 => "I32",
                    lucet_module::ValType::I64 => "I64",
                    lucet_module::ValType::F32 => "F32",
                    lucet_module::ValType::F64 => "F64",
                    lucet_module::ValType::V128 => "V128",
                    lucet_module::ValType::FuncRef => "FuncRef",
                    lucet_module::ValType::ExternRef => "ExternRef",
                    lucet_module::ValType::ExnRef => "ExnRef",
                }
            ));
        } else {
            msg.push_str(&format!(": it takes {} arguments, not {}", ty.params.len(), args.len()));
        }
        Error::InvalidArgument(msg)
    }

    /// Runs `go` (which enters the guest) under the aliasing discipline of
    /// [`Instance::at_vmctx`]: the header's instance pointer is derived from `&mut self`
    /// first, and from then until the guest has left, `self` is not used: guest code,
    /// builtins and hostcalls reach the instance through that pointer, one at a time on
    /// this thread. What the entry path itself keeps using meanwhile (the `ExecState`,
    /// the trap lookup, the value slots) lives in allocations of its own, so the
    /// references they make to the `Instance` overlap nothing it holds.
    #[inline]
    pub(super) fn enter<R>(
        &mut self,
        go: impl FnOnce(&mut ExecState, &Arc<dyn TrapLookup>, &Arc<FaultRanges>) -> R,
    ) -> R {
        let exec: *mut ExecState = &mut *self.exec;
        // SAFETY: bitwise copies of our two `Arc`s that are never dropped, so no reference
        // count changes on this path. What they point at stays alive: `self` holds the
        // originals, which nothing replaces while the guest runs (`relink` runs before
        // entering, `build` before the first run), and the engine takes a reference of
        // its own when it keeps them past the run. Copies, not references into `self`,
        // because builtins make `&mut Instance` while the guest runs.
        let lookup = ManuallyDrop::new(unsafe { std::ptr::read(&self.lookup) });
        let faults = ManuallyDrop::new(unsafe { std::ptr::read(&self.fault_ranges) });
        let header = self.vmctx as *mut VmctxHeader;
        let me: *mut Instance = self;
        // SAFETY: our own vmctx header; writing it creates no reference to `self`.
        let previous = unsafe { std::mem::replace(&mut (*header).instance, me as *mut u8) };
        // SAFETY: `exec` points into our box, which nothing else references: only the
        // entry path uses the `ExecState`, and it is not re-entered for this instance
        // (a nested run of it would need `&mut` to it, which the caller holds).
        let exit = go(unsafe { &mut *exec }, &lookup, &faults);
        // Leaving: back to the cell's pointer, which `previous` is (a run of this
        // instance never nests in another run of it: both would need `&mut self`).
        // SAFETY: as above.
        unsafe { (*header).instance = previous };
        exit
    }

    /// A run reaches every memory of the instances it is linked to. A hostcall further up
    /// this thread's stack may hold a view of one of them (`Vmctx::heap`); the guest
    /// must not write under it.
    #[inline]
    pub(super) fn check_no_memory_borrowed(&self) -> Result<(), Error> {
        if self.heap_borrow.try_borrow_mut().is_err() || self.linked_memory_borrowed() {
            return Err(memory_borrowed_error());
        }
        Ok(())
    }

    /// The part of `check_no_memory_borrowed` for the linked instances.
    fn linked_memory_borrowed(&self) -> bool {
        self.linked_vmctxs.iter().any(|&v| {
            // SAFETY: linked instances are alive (kept through deps) and, bound to this
            // thread, not otherwise referenced (see `grow_memory_at`); only their borrow
            // flag is read.
            unsafe { &*Instance::at_vmctx(v) }.heap_borrow.try_borrow_mut().is_err()
        })
    }

    /// A `funcref` from the host must be null or point at a function reference of this
    /// instance or of one it reaches: guest code will call through it.
    pub(super) fn check_funcref(&self, v: &Val) -> Result<(), Error> {
        let Val::FuncRef(p) = *v else { return Ok(()) };
        if p == 0 {
            return Ok(());
        }
        let size = std::mem::size_of::<FuncRef>();
        for i in self.reachable() {
            // SAFETY: reachable instances are alive (see `reachable`).
            let inst = unsafe { &*i };
            let start = inst.vmctx as usize + inst.layout.funcrefs as usize;
            let end = start + inst.layout.num_funcs as usize * size;
            // `is_multiple_of` is newer than the workspace's minimum Rust version.
            #[allow(clippy::manual_is_multiple_of)]
            let aligned = p.wrapping_sub(start) % size == 0;
            if (start..end).contains(&p) && aligned {
                return Ok(());
            }
        }
        Err(Error::InvalidArgument(format!(
            "funcref {p:#x} is not a function of this instance or of an instance it is linked to; pass a \
             funcref obtained from one of them (e.g. `Func::as_funcref`) or null"
        )))
    }

    #[inline]
    pub(super) fn guest_stack(&self) -> GuestStack {
        GuestStack {
            guard_start: self.slot.guard_start as usize,
            guard_end: self.slot.stack_bottom as usize,
            top: self.slot.stack_top() as usize & !15,
        }
    }

    /// Every instance reachable through imports runs on our stack during our calls,
    /// so their prologue checks must compare against our stack's limit. Keeps the
    /// previous limits: when this run is nested in a hostcall of another run, that run's
    /// limits must be back in place when we return to it (`restore_stack_limits`).
    #[inline]
    pub(super) fn set_stack_limits(&mut self) {
        let limit = self.own_stack_limit();
        let h = self.vmctx as *mut VmctxHeader;
        // SAFETY: our own vmctx, alive as long as we are; only its header is touched.
        unsafe {
            self.saved_own_limit = (*h).stack_limit;
            (*h).stack_limit = limit;
        }
        if !self.linked_vmctxs.is_empty() {
            self.set_linked_stack_limits(limit);
        }
    }

    /// The limit our stack puts on guest code: the stack's bottom plus the room kept for
    /// hostcalls.
    #[inline]
    pub(super) fn own_stack_limit(&self) -> usize {
        self.slot.stack_bottom as usize + self.slot.limits().hostcall_reservation
    }

    fn set_linked_stack_limits(&mut self, limit: usize) {
        self.saved_limits.clear();
        for &v in &self.linked_vmctxs {
            let h = v as *mut VmctxHeader;
            // SAFETY: the vmctxs of live instances (kept alive through deps).
            unsafe {
                self.saved_limits.push((h, (*h).stack_limit));
                (*h).stack_limit = limit;
            }
        }
    }

    /// Puts back the limits `set_stack_limits` replaced, in the reverse order.
    #[inline]
    pub(super) fn restore_stack_limits(&mut self) {
        if !self.linked_vmctxs.is_empty() {
            self.restore_linked_stack_limits();
        }
        // SAFETY: our own vmctx, as in `set_stack_limits`.
        unsafe { (*(self.vmctx as *mut VmctxHeader)).stack_limit = self.saved_own_limit };
    }

    fn restore_linked_stack_limits(&mut self) {
        for &(h, limit) in self.saved_limits.iter().rev() {
            // SAFETY: saved by `set_stack_limits` from vmctxs of instances that are still
            // alive (the running instance keeps them).
            unsafe { (*h).stack_limit = limit };
        }
    }

    /// `finish` for the typed path when the guest returned (`Left::Returned`): the
    /// result slots, without making `Val`s.
    /// `n_slots` is the call's (`CallSig::n_slots`), which `call_resolved` did not record.
    #[inline(always)]
    pub(crate) fn returned_slots(&mut self, n_slots: usize) -> &[[u8; VALUE_SLOT_SIZE]] {
        // No borrow flag needs cleaning: every hostcall frame of the run returned,
        // dropping its borrows (`clean_run_borrows` is for abandoned frames).
        self.state = State::Ready;
        &self.values[..n_slots]
    }

    /// `finish` for the typed path when the guest did not return: the error, which for
    /// a guest that yielded is `Error::InstanceNotReturned` (the instance stays yielded).
    #[cold]
    pub(crate) fn not_returned(&mut self, left: Left, sig: &CallSig) -> Error {
        // A guest that yielded returns later, into `finish` by way of `resume`.
        self.set_pending(*sig);
        let exit = self.exec.exit(left);
        match self.finish(exit) {
            Err(e) => e,
            Ok(RunResult::Yielded(_)) => Error::InstanceNotReturned,
            Ok(RunResult::Returned(_)) => unreachable!("a return is answered by `returned_slots`"),
        }
    }

    pub(super) fn finish(&mut self, exit: GuestExit) -> Result<RunResult, Error> {
        self.clean_run_borrows();
        match exit {
            GuestExit::Returned => {
                let p = self.pending.take().expect("a call was pending");
                let results = &self.module.module_data().types[p.type_index as usize].results;
                let slots = &self.values[..self.n_slots];
                let vals = results.iter().zip(slots).map(|(t, s)| Val::from_slot(*t, s)).collect();
                self.state = State::Ready;
                Ok(RunResult::Returned(UntypedRetVal::new(vals)))
            }
            GuestExit::Yielded(v) => {
                self.state = State::Yielded;
                Ok(RunResult::Yielded(YieldedVal(v)))
            }
            GuestExit::Terminated(TerminationDetails::Provided(d)) if d.is::<Uncaught>() => {
                self.pending = None;
                self.state = State::Faulted;
                let tag = d.downcast_ref::<Uncaught>().map(|u| u.tag.clone()).unwrap_or_default();
                Err(Error::UncaughtException { tag })
            }
            GuestExit::Terminated(d) => {
                self.pending = None;
                self.state = State::Terminated;
                Err(Error::RuntimeTerminated(d))
            }
            GuestExit::Faulted { trap, rip, fault_addr } => {
                self.pending = None;
                let function = self.function_at(rip).or_else(|| trap.function.map(|f| self.dl().function_name(f)));
                let details =
                    FaultDetails { trap_code: trap.code, function, wasm_offset: trap.wasm_offset, rip, fault_addr };
                self.state = State::Faulted;
                Err(Error::RuntimeFault(details))
            }
        }
    }

    /// Name of the guest function containing `pc`, searching linked modules too.
    pub(super) fn function_at(&self, pc: usize) -> Option<String> {
        if let Some(r) = self.dl().code_map().find(pc) {
            return Some(self.dl().function_name(r.func_index));
        }
        // Linked instances may form cycles: walk them once each.
        self.reachable().into_iter().skip(1).find_map(|p| {
            // SAFETY: reachable instances are alive (see `reachable`); their modules
            // never change.
            let dl = unsafe { (*p).module.as_dl_module() };
            dl.code_map().find(pc).map(|r| dl.function_name(r.func_index))
        })
    }

    /// After a run: terminating abandons hostcall frames, possibly with live borrows; no
    /// such borrow can be used again, so the flags are reset. That is sound for the
    /// memory views of every instance the run reached, because `check_no_memory_borrowed`
    /// found them all free when the run (or resume) began, and hostcalls outside the run
    /// stay suspended until it ends: every borrow now held comes from the run's frames.
    /// (A yielded run holds none; see `Vmctx::yield_val`.)
    pub(super) fn clean_run_borrows(&mut self) {
        self.clean_own_borrows();
        for &v in &self.linked_vmctxs {
            // SAFETY: a linked instance, alive (kept through deps) and bound to this
            // thread; its header pointer is the valid one (`at_vmctx`). Replacing the
            // flag in place makes no reference to the rest of it.
            unsafe { std::ptr::addr_of_mut!((*Instance::at_vmctx(v)).heap_borrow).write(RefCell::new(())) };
        }
    }

    /// Resets this instance's own borrow flags; see `clean_run_borrows`. Its embedder
    /// contexts are only reachable from hostcalls of its own runs, so they are free
    /// whenever this instance does not run.
    pub(super) fn clean_own_borrows(&mut self) {
        self.heap_borrow = RefCell::new(());
        for cell in self.embed_ctx.values_mut() {
            let v = std::mem::replace(cell.get_mut(), Box::new(()));
            *cell = RefCell::new(v);
        }
    }

    /// Continues a yielded run.
    pub fn resume(&mut self) -> Result<RunResult, Error> {
        self.resume_inner(None)
    }

    /// Continues a yielded run; the yielding hostcall receives `val`.
    pub fn resume_with_val<A: Any + Send + 'static>(&mut self, val: A) -> Result<RunResult, Error> {
        self.resume_inner(Some(Box::new(val)))
    }

    pub(super) fn resume_inner(&mut self, val: Option<Box<dyn Any + Send>>) -> Result<RunResult, Error> {
        if !matches!(self.state, State::Yielded) || !self.exec.is_yielded() {
            return Err(Error::InstanceNotYielded);
        }
        self.check_no_memory_borrowed()?;
        self.state = State::Ready;
        self.set_stack_limits();
        let exit = self.enter(|exec, _, _| {
            // SAFETY: the guest yielded on this instance's stack and has not been abandoned.
            unsafe { exec.resume(val) }
        });
        self.restore_stack_limits();
        self.finish(exit)
    }

    /// Forgets that the last run trapped (`is_faulted()` becomes false). Running again
    /// does not require it: a trap ends only the call that trapped.
    pub fn clear_trap(&mut self) {
        if matches!(self.state, State::Faulted) {
            self.state = State::Ready;
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready)
    }

    pub fn is_yielded(&self) -> bool {
        matches!(self.state, State::Yielded)
    }

    pub fn is_faulted(&self) -> bool {
        matches!(self.state, State::Faulted)
    }

    pub fn is_terminated(&self) -> bool {
        matches!(self.state, State::Terminated)
    }

    /// A handle that stops this instance's runs from any thread.
    ///
    /// ```no_run
    /// # fn f(mut instance: lucet_runtime::InstanceHandle) {
    /// let switch = instance.kill_switch();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(10));
    ///     let _ = switch.terminate();
    /// });
    /// let result = instance.run("spin", &[]);
    /// assert!(matches!(
    ///     result,
    ///     Err(lucet_runtime::Error::RuntimeTerminated(lucet_runtime::TerminationDetails::Remote))
    /// ));
    /// # }
    /// ```
    pub fn kill_switch(&self) -> KillSwitch {
        KillSwitch::new(self.exec().kill_state())
    }

    /// Like [`Instance::run`], but the run is stopped if it has not finished after
    /// `timeout`, and then returns `Error::RuntimeTerminated(TerminationDetails::Timeout)`.
    /// The time a guest spends yielded does not count: the limit applies to this call.
    pub fn run_with_timeout(&mut self, entrypoint: &str, args: &[Val], timeout: Duration) -> Result<RunResult, Error> {
        self.exec_mut().set_timeout(Some(timeout));
        let result = self.run(entrypoint, args);
        // The run may have failed before entering the guest; never let the timeout
        // apply to a later call.
        self.exec_mut().set_timeout(None);
        result
    }

    /// Like [`Instance::resume`], with a limit on how long the resumed guest may run.
    pub fn resume_with_timeout(&mut self, timeout: Duration) -> Result<RunResult, Error> {
        self.exec_mut().set_timeout(Some(timeout));
        let result = self.resume();
        self.exec_mut().set_timeout(None);
        result
    }
}
