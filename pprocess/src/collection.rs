//! What [`Map`](crate::Map) and [`Queue`](crate::Queue) share: both are a
//! collection of results kept by the handler of an [`Exchange`], and pass
//! their settings and new tasks on to it.
//!
//! [`Exchange`]: crate::Exchange

/// Writes the methods a results collection passes on to the `exchange`
/// field it holds: `limit`, `timeout`, `start`, `manage` and `create`, with
/// examples that name the collection.
///
/// `$collection` is the type (`Map`), `$results` its handler
/// (`MapResults`), and `$before_new_tasks`, if given, a method of the
/// collection called before a task is given (a `Map` first takes the
/// `pmap` inputs still waiting, so that new tasks come after them).
macro_rules! pass_to_exchange {
    ($collection:ident, $results:ident $(, $before_new_tasks:ident)?) => {
        /// Runs at most `processes` processes at once (at least 1); further
        /// tasks wait for a process to end.
        ///
        /// ```
        #[doc = concat!("let mut tasks = pprocess::", stringify!($collection), "::new().limit(1);")]
        /// tasks.start(|channel| channel.send(&0u8));
        /// tasks.start(|channel| channel.send(&1u8));
        /// // One at a time: the second task starts once the first has ended.
        /// assert_eq!(tasks.collect::<pprocess::Result<Vec<u8>>>()?, [0, 1]);
        /// # Ok::<(), pprocess::Error>(())
        /// ```
        pub fn limit(mut self, processes: usize) -> Self {
            self.exchange = self.exchange.limit(processes);
            self
        }

        /// Gives each task at most `timeout`; a task that takes longer is
        /// killed and fails with [`Error::Timeout`](crate::Error::Timeout).
        /// See [`Exchange::timeout`](crate::Exchange::timeout).
        ///
        /// ```
        /// use std::time::Duration;
        ///
        #[doc = concat!("let mut tasks = pprocess::", stringify!($collection), "::<u8>::new().timeout(Duration::from_millis(100));")]
        /// tasks.start(|_channel| loop { std::thread::park() }); // never ends
        /// assert!(matches!(tasks.next(), Some(Err(pprocess::Error::Timeout { .. }))));
        /// ```
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.exchange = self.exchange.timeout(timeout);
            self
        }

        /// Starts a task, `f` in a created process, that sends a `T` on its
        /// channel, and returns its task number (0, 1, ...). See
        /// [`Exchange::start`](crate::Exchange::start).
        ///
        /// ```
        #[doc = concat!("let mut tasks = pprocess::", stringify!($collection), "::<char>::new();")]
        /// assert_eq!(tasks.start(|channel| channel.send(&'a')), 0);
        /// assert_eq!(tasks.next().unwrap()?, 'a');
        /// # Ok::<(), pprocess::Error>(())
        /// ```
        pub fn start<F, R>(&mut self, f: F) -> usize
        where
            F: FnOnce(&mut Channel) -> R + 'env,
            R: std::process::Termination,
        {
            $(self.$before_new_tasks();)?
            self.exchange.start(f)
        }

        /// Wraps `callable` so that each call starts a task of this
        /// collection; see [`Exchange::manage`](crate::Exchange::manage).
        ///
        /// ```
        /// use pprocess::MakeParallel;
        ///
        #[doc = concat!("let mut tasks = pprocess::", stringify!($collection), "::<i32>::new();")]
        /// let mut negate = tasks.manage(MakeParallel::new(|n: i32| -n));
        /// negate.call(5);
        /// assert_eq!(tasks.next().unwrap()?, -5);
        /// # Ok::<(), pprocess::Error>(())
        /// ```
        pub fn manage<C>(&mut self, callable: C) -> Managed<'_, 'env, $results<T>, C> {
            $(self.$before_new_tasks();)?
            self.exchange.manage(callable)
        }

        /// Creates a process, fork-style, as a new task, once there is room
        /// under the limit (results that arrive meanwhile are stored). The
        /// creator gets `None`; the created process gets its channel: it
        /// sends its result on it, then ends with [`exit`](crate::exit).
        /// See [`Exchange::create`](crate::Exchange::create).
        ///
        /// ```
        #[doc = concat!("let mut tasks = pprocess::", stringify!($collection), "::<u8>::new().limit(2);")]
        /// for i in 0..3u8 {
        ///     if let Some(mut channel) = tasks.create()? {
        ///         channel.send(&(i * 2))?; // in the created process
        ///         pprocess::exit(channel);
        ///     }
        /// }
        /// let mut doubled = tasks.collect::<pprocess::Result<Vec<u8>>>()?;
        /// doubled.sort();
        /// assert_eq!(doubled, [0, 2, 4]);
        /// # Ok::<(), pprocess::Error>(())
        /// ```
        pub fn create(&mut self) -> Result<Option<Channel>> {
            $(self.$before_new_tasks();)?
            self.exchange.create()
        }
    };
}

pub(crate) use pass_to_exchange;
