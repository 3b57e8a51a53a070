//! A headless Chromium driven over the Chrome DevTools Protocol, for tests that open pages in a
//! real browser: layout, lazy images, CSP, accessibility (axe-core) and screenshots.
//!
//! The transport is `--remote-debugging-pipe`: Chromium reads commands on fd 3 and writes replies
//! and events on fd 4, each a JSON object ended by a NUL byte (what Puppeteer's `pipe: true`
//! does). So there is no WebDriver, no chromedriver, no port and no WebSocket crate.
//!
//! Every call blocks (with a timeout). From a `#[tokio::test]`, drive the browser from
//! `tokio::task::spawn_blocking` (or a plain thread) so the servers the page talks to, running
//! on the test's runtime, keep being served meanwhile.
//!
//! Chromium missing is an error that says how to install it (`scripts/tools.sh chromium`): a
//! test never skips for want of it.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long a command may take to be answered.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a navigation may take to fire its load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of Chromium's stderr kept to show when it fails.
const STDERR_KEPT: usize = 16 * 1024;

/// A Chromium process; killed (with every process it started) when the last [`Browser`] or
/// [`Page`] made from it is dropped.
#[derive(Clone)]
pub struct Browser(Arc<Inner>);

/// One tab, attached to its own DevTools session. Calls go to that tab only.
pub struct Page {
    inner: Arc<Inner>,
    session: String,
    target: String,
}

struct Inner {
    child: Mutex<Child>,
    commands: Mutex<PipeWriter>,
    next_id: AtomicU64,
    shared: Arc<Shared>,
    stderr: Arc<Mutex<Vec<u8>>>,
    _profile: tempfile::TempDir,
}

/// What the reader thread hands over: replies by id, events in arrival order.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    replies: HashMap<u64, Value>,
    events: VecDeque<Value>,
    closed: bool,
}

/// The browser binary: Debian's real one (the `/usr/bin/chromium` wrapper runs a shell script
/// that prints noise and adds flags), else `chromium` on PATH.
fn chromium_path() -> Result<PathBuf, String> {
    let direct = PathBuf::from("/usr/lib/chromium/chromium");
    if direct.exists() {
        return Ok(direct);
    }
    let on_path = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).map(|dir| dir.join("chromium")).find(|p| p.is_file()));
    on_path.ok_or_else(|| {
        "chromium not found (neither /usr/lib/chromium/chromium nor on PATH): run `scripts/tools.sh chromium`".into()
    })
}

impl Browser {
    /// Starts a headless Chromium with a fresh profile in a temporary folder.
    pub fn launch() -> Result<Browser, String> {
        let path = chromium_path()?;
        let profile = tempfile::tempdir().map_err(|e| format!("profile folder: {e}"))?;
        // Both ends of both pipes are close-on-exec; the child gets copies on fds 3 and 4 only.
        let (to_chrome, commands) = std::io::pipe().map_err(|e| e.to_string())?;
        let (replies, from_chrome) = std::io::pipe().map_err(|e| e.to_string())?;
        let (input, output) = (to_chrome.as_raw_fd(), from_chrome.as_raw_fd());
        let mut command = Command::new(&path);
        command
            .args(["--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu"])
            // No scrollbar gutter: a page is as wide as the viewport at every width, as on phones
            // and with overlay scrollbars, so screenshots have the viewport's width.
            .args(["--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so Drop can kill the renderers and the zygote too.
            .process_group(0);
        // SAFETY: only async-signal-safe calls (fcntl, dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // First copy both ends above 4 (close-on-exec), then dup2 them onto 3 and 4:
                // a plain dup2(input, 3) would close `output` were it 3, and dup2 onto the fd it
                // already is would leave FD_CLOEXEC set. dup2 onto another fd clears the flag.
                let high_in = libc::fcntl(input, libc::F_DUPFD_CLOEXEC, 5);
                let high_out = libc::fcntl(output, libc::F_DUPFD_CLOEXEC, 5);
                if high_in < 0 || high_out < 0 || libc::dup2(high_in, 3) < 0 || libc::dup2(high_out, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| format!("starting {}: {e}", path.display()))?;
        // Keep only our ends: EOF on `replies` then means Chromium is gone.
        drop((to_chrome, from_chrome));

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut child_err = child.stderr.take().unwrap();
        let kept = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = child_err.read(&mut buf) {
                let mut kept = kept.lock().unwrap();
                kept.extend_from_slice(&buf[..n]);
                let excess = kept.len().saturating_sub(STDERR_KEPT);
                kept.drain(..excess);
            }
        });

        let shared = Arc::new(Shared::default());
        let reader = shared.clone();
        std::thread::spawn(move || read_messages(BufReader::new(replies), &reader));

        let inner = Inner {
            child: Mutex::new(child),
            commands: Mutex::new(commands),
            next_id: AtomicU64::new(1),
            shared,
            stderr,
            _profile: profile,
        };
        let browser = Browser(Arc::new(inner));
        browser.0.call(None, "Browser.getVersion", json!({}))?;
        Ok(browser)
    }

    /// A new tab on `about:blank`, with the Page, Runtime and Log domains enabled.
    pub fn new_page(&self) -> Result<Page, String> {
        let created = self.0.call(None, "Target.createTarget", json!({"url": "about:blank"}))?;
        let target = created["targetId"].as_str().ok_or("Target.createTarget: no targetId")?.to_owned();
        let attached = self.0.call(None, "Target.attachToTarget", json!({"targetId": target, "flatten": true}))?;
        let session = attached["sessionId"].as_str().ok_or("Target.attachToTarget: no sessionId")?.to_owned();
        let page = Page { inner: self.0.clone(), session, target };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(domain, json!({}))?;
        }
        Ok(page)
    }
}

/// Splits the stream on NUL; replies go by id, everything else is an event.
fn read_messages(mut from_chrome: impl BufRead, shared: &Shared) {
    let mut message = Vec::new();
    loop {
        message.clear();
        match from_chrome.read_until(0, &mut message) {
            Ok(n) if n > 0 && message.last() == Some(&0) => {}
            _ => break,
        }
        let Ok(value) = serde_json::from_slice::<Value>(&message[..message.len() - 1]) else { continue };
        let mut state = shared.state.lock().unwrap();
        match value["id"].as_u64() {
            Some(id) => drop(state.replies.insert(id, value)),
            None => state.events.push_back(value),
        }
        shared.changed.notify_all();
    }
    shared.state.lock().unwrap().closed = true;
    shared.changed.notify_all();
}

impl Inner {
    /// Sends one command and waits for its reply; a CDP error becomes `Err` with its message.
    fn call(&self, session: Option<&str>, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.lock().unwrap().write_all(&bytes).map_err(|e| self.failed(&format!("{method}: {e}")))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        let mut state = self.shared.state.lock().unwrap();
        loop {
            if let Some(reply) = state.replies.remove(&id) {
                return match reply.get("error") {
                    Some(error) => {
                        Err(format!("{method}: {}", error["message"].as_str().unwrap_or(&error.to_string())))
                    }
                    None => Ok(reply["result"].clone()),
                };
            }
            if state.closed {
                return Err(self.failed(&format!("{method}: chromium closed the pipe")));
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .ok_or_else(|| format!("{method}: no reply in {CALL_TIMEOUT:?}"))?;
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// `what`, with the end of Chromium's stderr.
    fn failed(&self, what: &str) -> String {
        let stderr = self.stderr.lock().unwrap();
        format!("{what}\n--- chromium stderr (last {} bytes) ---\n{}", stderr.len(), String::from_utf8_lossy(&stderr))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        // The whole group: the browser process alone would leave its renderers behind.
        unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = child.wait();
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        let _ = self.inner.call(None, "Target.closeTarget", json!({"targetId": self.target}));
    }
}

impl Page {
    /// Any DevTools command, sent to this tab's session; returns its `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.inner.call(Some(&self.session), method, params)
    }

    /// The viewport in CSS pixels at device scale 1 (`mobile` also emulates a phone's meta
    /// viewport handling). Applies at once, and to later loads.
    pub fn viewport(&self, width: u32, height: u32, mobile: bool) -> Result<(), String> {
        let params = json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile});
        self.call("Emulation.setDeviceMetricsOverride", params).map(drop)
    }

    /// `prefers-color-scheme`: `"dark"` or `"light"`.
    pub fn color_scheme(&self, scheme: &str) -> Result<(), String> {
        let params = json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]});
        self.call("Emulation.setEmulatedMedia", params).map(drop)
    }

    /// Runs `js` in every later document before its own scripts. The page's CSP does not apply
    /// to it, so it can record `securitypolicyviolation` events, or replace `window.alert` (a
    /// dialog left open would block every later `eval` until its timeout).
    pub fn init_script(&self, js: &str) -> Result<(), String> {
        self.call("Page.addScriptToEvaluateOnNewDocument", json!({"source": js})).map(drop)
    }

    /// Whether the page's CSP is ignored. Takes effect at the next navigation, so call
    /// [`Page::goto`] again after it.
    pub fn bypass_csp(&self, enabled: bool) -> Result<(), String> {
        self.call("Page.setBypassCSP", json!({"enabled": enabled})).map(drop)
    }

    /// Navigates and waits (up to 20 s) for the load event. Returns the HTTP status of the
    /// document; a navigation that fails (refused connection, bad URL) is an `Err`.
    pub fn goto(&self, url: &str) -> Result<u16, String> {
        // A load event left from an earlier navigation must not end this one's wait.
        self.take_events("Page.loadEventFired");
        let navigated = self.call("Page.navigate", json!({"url": url}))?;
        if let Some(error) = navigated["errorText"].as_str().filter(|e| !e.is_empty()) {
            return Err(format!("navigating to {url}: {error}"));
        }
        self.wait_event("Page.loadEventFired", LOAD_TIMEOUT).map_err(|e| format!("{url}: {e}"))?;
        let status = self.eval("performance.getEntriesByType('navigation')[0]?.responseStatus ?? 0")?;
        Ok(status.as_u64().unwrap_or(0) as u16)
    }

    /// Evaluates `js` in the page (awaiting a promise), its value as JSON (`null` for
    /// `undefined`). A thrown exception or rejection is an `Err` with its description.
    pub fn eval(&self, js: &str) -> Result<Value, String> {
        let params = json!({"expression": js, "awaitPromise": true, "returnByValue": true});
        let reply = self.call("Runtime.evaluate", params)?;
        if let Some(details) = reply.get("exceptionDetails") {
            let description = details["exception"]["description"].as_str().or(details["text"].as_str());
            return Err(format!("page threw: {}", description.unwrap_or("?")));
        }
        Ok(reply["result"].get("value").cloned().unwrap_or(Value::Null))
    }

    /// Scrolls to the bottom in 400 px steps so every `loading="lazy"` image is fetched, back to
    /// the top, then waits until every image has loaded or failed.
    pub fn scroll_through_and_await_images(&self) -> Result<(), String> {
        self.eval(
            "(async () => {
               for (let y = 0; y < document.documentElement.scrollHeight; y += 400) {
                 scrollTo(0, y); await new Promise(r => setTimeout(r, 30));
               }
               scrollTo(0, document.documentElement.scrollHeight); await new Promise(r => setTimeout(r, 30));
               scrollTo(0, 0);
               await Promise.all([...document.images].map(i => i.complete ? 0
                 : new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
             })()",
        )
        .map(drop)
    }

    /// A PNG of the whole page (beyond the viewport), as wide as its content.
    pub fn screenshot_png(&self) -> Result<Vec<u8>, String> {
        let metrics = self.call("Page.getLayoutMetrics", json!({}))?;
        let size = &metrics["cssContentSize"];
        let clip = json!({"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1});
        let params = json!({"format": "png", "captureBeyondViewport": true, "clip": clip});
        let shot = self.call("Page.captureScreenshot", params)?;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().ok_or("Page.captureScreenshot: no data")?)
            .map_err(|e| format!("Page.captureScreenshot: {e}"))
    }

    /// The texts of the console's "security" entries so far (CSP violations among them).
    pub fn security_log(&self) -> Vec<String> {
        let state = self.inner.shared.state.lock().unwrap();
        let entries = state.events.iter().filter(|e| self.mine(e, "Log.entryAdded"));
        let security = entries.filter(|e| e["params"]["entry"]["source"] == "security");
        security.map(|e| e["params"]["entry"]["text"].as_str().unwrap_or_default().to_owned()).collect()
    }

    /// Runs axe-core (`axe_js` is the source of `axe.min.js`) on the current document and
    /// returns its serious and critical violations: `{id, impact, help, nodes: [selector]}`.
    ///
    /// axe goes in as a `<script>` element, which a strict CSP refuses: call
    /// `bypass_csp(true)` and [`Page::goto`] the page again first (after the CSP checks).
    pub fn axe(&self, axe_js: &str) -> Result<Vec<Value>, String> {
        let inject = format!(
            "(() => {{ const s = document.createElement('script'); s.textContent = {};
                       (document.head || document.documentElement).appendChild(s); return typeof axe; }})()",
            Value::from(axe_js)
        );
        if self.eval(&inject)? == "undefined" {
            return Err("axe did not load: the page's CSP refused it (bypass_csp(true), then goto again)".into());
        }
        let violations = self.eval(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
               .filter(v => v.impact === 'serious' || v.impact === 'critical')
               .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))",
        )?;
        violations.as_array().cloned().ok_or_else(|| format!("axe.run returned {violations}"))
    }

    /// Whether `event` is a `method` event of this tab.
    fn mine(&self, event: &Value, method: &str) -> bool {
        event["method"] == method && event["sessionId"] == self.session.as_str()
    }

    /// Removes this tab's queued `method` events.
    fn take_events(&self, method: &str) {
        self.inner.shared.state.lock().unwrap().events.retain(|e| !self.mine(e, method));
    }

    /// Removes and returns this tab's next `method` event, waiting up to `timeout` for it.
    fn wait_event(&self, method: &str, timeout: Duration) -> Result<Value, String> {
        let deadline = Instant::now() + timeout;
        let mut state = self.inner.shared.state.lock().unwrap();
        loop {
            if let Some(at) = state.events.iter().position(|e| self.mine(e, method)) {
                return Ok(state.events.remove(at).unwrap());
            }
            if state.closed {
                return Err(self.inner.failed(&format!("waiting for {method}: chromium closed the pipe")));
            }
            let left =
                deadline.checked_duration_since(Instant::now()).ok_or_else(|| format!("no {method} in {timeout:?}"))?;
            state = self.inner.shared.changed.wait_timeout(state, left).unwrap().0;
        }
    }
}
