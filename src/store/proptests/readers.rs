//! The readers under test: raw subscriptions, API watches, paged lists, exact snapshots.

#[allow(unused_imports)]
use super::*;

/// A store subscription drained with `try_recv`: its start plus its events, checked as they come.
pub(super) struct Raw<T: Kind> {
    pub(super) who: String,
    pub(super) ns: Option<&'static str>,
    pub(super) state: Map,
    pub(super) last: u64,
    pub(super) rx: broadcast::Receiver<Batch<T>>,
}

impl<T: Kind> Raw<T> {
    /// Applies every batch waiting; returns the versions seen.
    pub(super) fn drain(&mut self) -> Result<Vec<u64>, TestCaseError> {
        let mut rvs = Vec::new();
        loop {
            match self.rx.try_recv() {
                Ok(batch) => {
                    prop_assert!(!batch.is_empty(), "{}: empty batch", self.who);
                    for e in batch.iter() {
                        prop_assert!(
                            e.rv > self.last,
                            "{}: rv {} after {}",
                            self.who,
                            e.rv,
                            self.last
                        );
                        prop_assert!(
                            in_ns(&*e.object.value, self.ns),
                            "{}: event of another namespace",
                            self.who
                        );
                        self.last = e.rv;
                        apply(&mut self.state, e, &self.who)?;
                        rvs.push(e.rv);
                    }
                }
                Err(TryRecvError::Empty) => return Ok(rvs),
                Err(e) => return Err(TestCaseError::fail(format!("{}: {e:?}", self.who))),
            }
        }
    }
}

/// A watch through the API (`api::watch::serve`), read frame by frame from its response body.
pub(super) struct ApiWatcher {
    pub(super) who: String,
    pub(super) nodes: bool,
    pub(super) ns: Option<&'static str>,
    pub(super) body: BoxBody,
    pub(super) buf: Vec<u8>,
    pub(super) state: Map,
    /// Past the initial events: frames' versions must increase from `last`.
    pub(super) live: bool,
    pub(super) last: u64,
    pub(super) error: Option<String>,
}

impl ApiWatcher {
    /// Reads every frame ready now and applies it.
    pub(super) fn drain(&mut self, rt: &tokio::runtime::Runtime) -> Result<(), TestCaseError> {
        let body = &mut self.body;
        let buf = &mut self.buf;
        let ended = rt.block_on(std::future::poll_fn(|cx| {
            loop {
                match Pin::new(&mut *body).poll_next(cx) {
                    Poll::Ready(Some(Ok(b))) => buf.extend_from_slice(&b),
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e.to_string())),
                    Poll::Ready(None) => return Poll::Ready(Ok(true)),
                    Poll::Pending => return Poll::Ready(Ok(false)),
                }
            }
        }));
        let ended = ended.map_err(|e| TestCaseError::fail(format!("{}: body: {e}", self.who)))?;
        while let Some(nl) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=nl).collect();
            self.frame(&line)?;
        }
        prop_assert!(self.buf.is_empty(), "{}: partial frame", self.who);
        prop_assert!(
            !ended || self.error.is_some(),
            "{}: stream ended without an error",
            self.who
        );
        Ok(())
    }

    pub(super) fn frame(&mut self, line: &[u8]) -> Result<(), TestCaseError> {
        let v: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| TestCaseError::fail(format!("{}: bad frame: {e}", self.who)))?;
        let ty = v["type"].as_str().unwrap_or_default().to_string();
        let md = &v["object"]["metadata"];
        let rv: u64 = md["resourceVersion"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        match ty.as_str() {
            "ERROR" => {
                self.error = Some(v["object"]["message"].to_string());
                return Ok(());
            }
            "BOOKMARK" => {
                if md["annotations"]["k8s.io/initial-events-end"] == "true" {
                    prop_assert!(!self.live, "{}: second initial-events-end", self.who);
                    self.live = true;
                    self.last = rv;
                }
                return Ok(());
            }
            "ADDED" | "MODIFIED" | "DELETED" => {}
            other => return Err(TestCaseError::fail(format!("{}: type {other}", self.who))),
        }
        let name = md["name"].as_str().unwrap_or_default();
        let key = match md["namespace"].as_str() {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_string(),
        };
        prop_assert_eq!(
            md["namespace"].is_string(),
            !self.nodes,
            "{}: {} namespace",
            &self.who,
            &key
        );
        if let Some(ns) = self.ns {
            prop_assert_eq!(md["namespace"].as_str(), Some(ns), "{}", &self.who);
        }
        let (lk, lv) = if self.nodes {
            selector::<NodeObject>()
        } else {
            selector::<PodObject>()
        };
        prop_assert_eq!(
            md["labels"][lk].as_str(),
            Some(lv),
            "{}: {} {} does not match the selector",
            &self.who,
            &ty,
            &key
        );
        if self.live {
            prop_assert!(
                rv > self.last,
                "{}: {} {} at {} after {}",
                &self.who,
                &ty,
                &key,
                rv,
                self.last
            );
            self.last = rv;
        }
        let had = match ty.as_str() {
            "DELETED" => self.state.remove(&key),
            _ => self.state.insert(key.clone(), rv),
        };
        prop_assert_eq!(
            had.is_some(),
            ty != "ADDED",
            "{}: {} {} at {} when it had {:?}",
            &self.who,
            &ty,
            &key,
            rv,
            had
        );
        Ok(())
    }
}

impl Harness {
    pub(super) fn subscribe<T: Kind>(
        &mut self,
        ns: Option<&'static str>,
        start: Start,
    ) -> Result<Option<Raw<T>>, TestCaseError>
    where
        Recorded: Pick<T>,
    {
        let current = self.log().current();
        let who = self.who(format!("watch({}, {ns:?}, {start:?})", T::RESOURCE));
        let (ws, expected) = match start {
            Start::Now => (WatchStart::Now, Some(self.log().snapshot::<T>())),
            Start::WithState => (WatchStart::WithState, None),
            Start::After(back) => {
                let snap = self.recorded(back).pick().clone();
                (WatchStart::After(snap.rv), Some(snap))
            }
        };
        let sub = match self.log().subscribe::<T>(ns, ws) {
            Ok(sub) => sub,
            Err(HistoryError::TooOld { requested, horizon }) => {
                prop_assert!(requested < horizon, "{}: TooOld at {}", who, horizon);
                prop_assert_eq!(horizon, self.log().horizon::<T>());
                return Ok(None);
            }
            Err(e) => return Err(TestCaseError::fail(format!("{who}: {e}"))),
        };
        prop_assert_eq!(sub.rv, current, "{}: subscription rv", &who);
        let mut w = Raw {
            who,
            ns,
            state: Map::new(),
            last: sub.rv,
            rx: sub.events,
        };
        match (ws, sub.initial, expected) {
            (WatchStart::Now, Initial::Nothing, Some(snap)) => {
                prop_assert_eq!(snap.rv, sub.rv);
                w.state = view(&snap, ns, false);
            }
            (WatchStart::WithState, Initial::State(snap), None) => {
                prop_assert_eq!(snap.rv, sub.rv);
                w.state = view(&snap, ns, false);
            }
            (WatchStart::After(r), Initial::Replay(events), Some(snap)) => {
                w.state = view(&snap, ns, false);
                let mut last = r;
                for e in &events {
                    prop_assert!(
                        e.rv > last && e.rv <= sub.rv,
                        "{}: replayed {}",
                        &w.who,
                        e.rv
                    );
                    prop_assert!(in_ns(&*e.object.value, ns), "{}: replay namespace", &w.who);
                    last = e.rv;
                    apply(&mut w.state, e, &w.who)?;
                }
            }
            (_, initial, _) => {
                return Err(TestCaseError::fail(format!(
                    "{}: initial {initial:?}",
                    w.who
                )));
            }
        }
        let now = view(&self.log().snapshot::<T>(), ns, false);
        prop_assert_eq!(
            &w.state,
            &now,
            "{}: start plus replay is not the state",
            &w.who
        );
        Ok(Some(w))
    }

    pub(super) fn api_watch<T: Kind>(
        &mut self,
        ns: Option<&'static str>,
        start: Start,
    ) -> Result<(), TestCaseError>
    where
        Recorded: Pick<T>,
    {
        let (k, v) = selector::<T>();
        let current = self.log().current();
        let mut q = format!("labelSelector={k}%3D{v}&allowWatchBookmarks=true");
        let mut from = None;
        match start {
            Start::Now => q.push_str("&sendInitialEvents=false&resourceVersionMatch=NotOlderThan"),
            Start::WithState => {}
            Start::After(back) => {
                let snap = self.recorded(back).pick().clone();
                // resourceVersion=0 would mean "any", not "after 0".
                if snap.rv > 0 {
                    q.push_str(&format!("&resourceVersion={}", snap.rv));
                    from = Some(snap);
                }
            }
        }
        let who = self.who(format!("api-watch({}, {ns:?}, {q})", T::RESOURCE));
        let before = view(&self.log().snapshot::<T>(), ns, true);
        let query = ListQuery::parse(&q).map_err(|e| TestCaseError::fail(e.message))?;
        let resp = self
            .rt
            .block_on(watch::serve::<T>(
                self.store.log(),
                &self.watchers,
                &query,
                V1BETA1,
                ns,
            ))
            .map_err(|e| TestCaseError::fail(format!("{who}: {}", e.message)))?;
        let with_state = matches!(start, Start::WithState)
            || (from.is_none() && matches!(start, Start::After(_)));
        let mut w = ApiWatcher {
            who,
            nodes: !T::NAMESPACED,
            ns,
            body: resp.into_body(),
            buf: Vec::new(),
            state: Map::new(),
            live: !with_state,
            last: current,
            error: None,
        };
        match &from {
            // Resuming: the client holds the state at r.
            Some(snap) => {
                w.state = view(snap, ns, true);
                w.last = snap.rv;
            }
            // Watching from now: the client listed the current state just before.
            None if !with_state => w.state = before,
            None => {}
        }
        w.drain(&self.rt)?;
        if let Some(e) = &w.error {
            let horizon = self.log().horizon::<T>();
            let r = from.as_ref().map(|s| s.rv);
            prop_assert!(
                r.is_some_and(|r| r < horizon),
                "{}: {} (horizon {})",
                &w.who,
                e,
                horizon
            );
            return Ok(());
        }
        prop_assert!(w.live, "{}: no initial-events-end bookmark", &w.who);
        if with_state {
            prop_assert_eq!(w.last, current, "{}: initial-events-end version", &w.who);
        }
        prop_assert!(w.last <= current, "{}: {} is in the future", &w.who, w.last);
        let now = view(&self.log().snapshot::<T>(), ns, true);
        prop_assert_eq!(&w.state, &now, "{}: initial state", &w.who);
        self.api.push(w);
        Ok(())
    }

    pub(super) fn page_start<T: Kind>(
        &mut self,
        limit: u8,
        ns: Option<&'static str>,
        sel: bool,
    ) -> Result<(), TestCaseError> {
        let (k, v) = selector::<T>();
        let query = if sel {
            format!("limit={limit}&labelSelector={k}%3D{v}")
        } else {
            format!("limit={limit}")
        };
        let who = self.who(format!("list({}, {ns:?}, {query})", T::RESOURCE));
        let q = ListQuery::parse(&query).map_err(|e| TestCaseError::fail(e.message))?;
        let (snap, start, before) = self
            .rt
            .block_on(list::resolve::<T>(self.log(), &q, ns))
            .map_err(|e| TestCaseError::fail(format!("{who}: {}", e.message)))?;
        prop_assert_eq!(snap.rv, self.log().current(), "{}", &who);
        prop_assert!(start.is_none() && before == 0);
        let expected = keys(&snap, ns, sel);
        let mut p = Paged {
            who,
            nodes: !T::NAMESPACED,
            ns,
            query,
            expected,
            got: Vec::new(),
            rv: snap.rv,
            token: String::new(),
            unfiltered: !sel,
        };
        if Self::take_page(&mut p, &snap, &q, None, 0)? {
            self.pages.push(p);
        }
        Ok(())
    }

    /// Adds one page to `p`; true while more pages follow.
    pub(super) fn take_page<T: Kind>(
        p: &mut Paged,
        snap: &Snapshot<T>,
        q: &ListQuery,
        start: Option<T::Key>,
        before: u64,
    ) -> Result<bool, TestCaseError> {
        let page = list::page(snap, q, p.ns, start, before);
        let limit = usize::try_from(q.limit).unwrap_or(0);
        prop_assert!(page.items.len() <= limit, "{}: page too long", &p.who);
        for v in &page.items {
            prop_assert!(v.rv <= snap.rv, "{}: item newer than its list", &p.who);
            p.got.push(key_of(&*v.value));
        }
        // Also what ends the list: a token that does not advance would page forever.
        prop_assert!(
            p.expected.starts_with(&p.got),
            "{}: pages so far {:?}, snapshot had {:?}",
            &p.who,
            &p.got,
            &p.expected
        );
        match page.next {
            Some(next) => {
                prop_assert_eq!(next.rv, p.rv as i64, "{}: token rv", &p.who);
                prop_assert_eq!(next.i, p.got.len() as u64, "{}: token count", &p.who);
                if p.unfiltered {
                    prop_assert_eq!(
                        page.remaining,
                        Some((p.expected.len() - p.got.len()) as u64),
                        "{}: remainingItemCount",
                        &p.who
                    );
                }
                p.token = next.encode();
                Ok(true)
            }
            None => {
                prop_assert_eq!(&p.got, &p.expected, "{}: pages", &p.who);
                Ok(false)
            }
        }
    }

    pub(super) fn page_next(&mut self, which: usize) -> Result<(), TestCaseError> {
        if self.pages.is_empty() {
            return Ok(());
        }
        let mut p = self.pages.remove(which % self.pages.len());
        let more = if p.nodes {
            self.next_page::<NodeObject>(&mut p)?
        } else {
            self.next_page::<PodObject>(&mut p)?
        };
        if more {
            self.pages.push(p);
        }
        Ok(())
    }

    pub(super) fn next_page<T: Kind>(&self, p: &mut Paged) -> Result<bool, TestCaseError> {
        let q = ListQuery::parse(&format!("{}&continue={}", p.query, p.token))
            .map_err(|e| TestCaseError::fail(e.message))?;
        match self.rt.block_on(list::resolve::<T>(self.log(), &q, p.ns)) {
            Ok((snap, start, before)) => {
                prop_assert_eq!(snap.rv, p.rv, "{}: continued at another rv", &p.who);
                prop_assert_eq!(before, p.got.len() as u64);
                Self::take_page(p, &snap, &q, start, before)
            }
            Err(e) => {
                let horizon = self.log().horizon::<T>();
                prop_assert!(
                    e.code == 410 && p.rv < horizon,
                    "{}: {} {} (horizon {})",
                    &p.who,
                    e.code,
                    e.message,
                    horizon
                );
                self.continue_inconsistently::<T>(p, e.continue_token.as_deref())?;
                Ok(false)
            }
        }
    }

    /// The token of an expired list's 410 goes on after the last key served, in the current state.
    fn continue_inconsistently<T: Kind>(
        &self,
        p: &Paged,
        fresh: Option<&str>,
    ) -> Result<(), TestCaseError> {
        let Some(fresh) = fresh else {
            return Err(TestCaseError::fail(format!(
                "{}: a 410 without a continue token",
                p.who
            )));
        };
        let q = ListQuery::parse(&format!("{}&continue={fresh}", p.query))
            .map_err(|e| TestCaseError::fail(e.message))?;
        let (snap, start, before) = self
            .rt
            .block_on(list::resolve::<T>(self.log(), &q, p.ns))
            .map_err(|e| TestCaseError::fail(format!("{}: fresh token: {}", p.who, e.message)))?;
        prop_assert_eq!(snap.rv, self.log().current(), "{}: fresh token rv", &p.who);
        let last = p.got.last().and_then(|k| T::key_from_str(k));
        prop_assert!(
            last.is_some() && start == last,
            "{}: fresh token key",
            &p.who
        );
        let now = keys(&snap, p.ns, !p.unfiltered);
        let after: Vec<&String> = now.iter().filter(|k| T::key_from_str(k) > last).collect();
        prop_assert_eq!(
            before as usize,
            now.len() - after.len(),
            "{}: count",
            &p.who
        );
        let page = list::page(&snap, &q, p.ns, start, before);
        let got: Vec<String> = page.items.iter().map(|v| key_of(&*v.value)).collect();
        let limit = usize::try_from(q.limit).unwrap_or(0).min(after.len());
        prop_assert_eq!(
            got.iter().collect::<Vec<_>>(),
            after[..limit].to_vec(),
            "{}: the remainder now",
            &p.who
        );
        if let Some(next) = page.next {
            prop_assert_eq!(next.rv, snap.rv as i64, "{}: next token rv", &p.who);
            if p.unfiltered {
                prop_assert_eq!(
                    page.remaining,
                    Some((after.len() - got.len()) as u64),
                    "{}: remainingItemCount now",
                    &p.who
                );
            }
        }
        Ok(())
    }

    pub(super) fn snapshot_at<T: Kind>(&self, back: usize) -> Result<(), TestCaseError>
    where
        Recorded: Pick<T>,
    {
        let want = self.recorded(back).pick();
        match self.log().snapshot_at::<T>(want.rv) {
            Ok(got) => prop_assert!(
                same(&got, want),
                "snapshot_at({}) of {}: {:?} at {} != {:?}",
                want.rv,
                T::RESOURCE,
                view(&got, None, false),
                got.rv,
                view(want, None, false)
            ),
            Err(HistoryError::TooOld { requested, horizon }) => {
                prop_assert!(requested < horizon, "TooOld {} at {}", requested, horizon);
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        }
        Ok(())
    }
}
