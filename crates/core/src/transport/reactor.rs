//! Batched delivery of request events to one asyncio event loop.
//!
//! Runtime threads push events into a queue and, when the queue was empty,
//! write one byte to a pipe the loop watches (`loop.add_reader`). The loop then
//! drains every queued event at once: no GIL is taken on the runtime threads
//! and one wake-up serves every request that finished meanwhile.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{CallHandle, Event, EventSink};

pub struct Reactor {
    queue: Mutex<(Vec<(u64, Event)>, bool)>,
    /// Requests in flight, by id (removed when their last event is delivered).
    calls: Mutex<HashMap<u64, CallHandle>>,
    read_fd: i32,
    write_fd: i32,
}

impl Reactor {
    pub fn new() -> std::io::Result<Reactor> {
        let mut fds = [0i32; 2];
        // SAFETY: plain libc calls on a local array.
        unsafe {
            if libc::pipe(fds.as_mut_ptr()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for fd in fds {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
                let fdflags = libc::fcntl(fd, libc::F_GETFD);
                libc::fcntl(fd, libc::F_SETFD, fdflags | libc::FD_CLOEXEC);
            }
        }
        Ok(Reactor { queue: Mutex::new((Vec::new(), false)), calls: Mutex::new(HashMap::new()), read_fd: fds[0], write_fd: fds[1] })
    }

    /// The descriptor to watch for readability.
    pub fn fileno(&self) -> i32 {
        self.read_fd
    }

    /// Every event queued so far (the wake-up byte is consumed).
    pub fn drain(&self) -> Vec<(u64, Event)> {
        let mut buf = [0u8; 256];
        loop {
            // SAFETY: reading into a local buffer from our own non-blocking fd.
            let n = unsafe { libc::read(self.read_fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n < buf.len() as isize {
                break;
            }
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.1 = false;
        std::mem::take(&mut q.0)
    }

    /// Remember the handle of request `id` (before it can report).
    pub fn track(&self, id: u64, handle: CallHandle) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).insert(id, handle);
    }

    /// Abort request `id` if it is still running.
    pub fn cancel(&self, id: u64) {
        if let Some(h) = self.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
            h.cancel();
        }
    }

    /// Let request `id` read `n` more body chunks.
    pub fn grant(&self, id: u64, n: usize) {
        if let Some(h) = self.calls.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
            h.grant(n);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn pending(&self) -> usize {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).0.len()
    }
}

impl EventSink for Reactor {
    fn deliver(&self, id: u64, event: Event) {
        let last = match &event {
            Event::Head(h) => h.eof,
            Event::Chunk(_, eof) => *eof,
            Event::Error(..) => true,
        };
        if last {
            self.calls.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        }
        let wake = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.0.push((id, event));
            !std::mem::replace(&mut q.1, true)
        };
        if wake {
            let b = 1u8;
            // SAFETY: one byte from a local to our own non-blocking fd. A full
            // pipe already means a wake-up is pending, so EAGAIN is fine.
            unsafe {
                libc::write(self.write_fd, &b as *const u8 as *const libc::c_void, 1);
            }
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // SAFETY: closing descriptors this value owns.
        unsafe {
            libc::close(self.read_fd);
            libc::close(self.write_fd);
        }
    }
}
