// The body of `santa_claus`, compiled twice: with std threads and a mutex/condvar monitor,
// and with strato threads and a monitor whose methods wait on the state server.
// Only the `use` lines around `include!` differ.

use serde::{Deserialize, Serialize};

/// What Santa does when he wakes up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Job {
    /// All nine reindeer are back: deliver the toys.
    Deliver,
    /// Three elves need help: consult with this group.
    Help(Vec<u32>),
}

/// The North Pole: the reindeer group, the elf group, and the gates they wait at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NorthPole {
    reindeer_back: u32,
    deliveries: u32,
    elves_waiting: Vec<u32>,
    helped: Vec<u32>,
    problems: u32,
    groups: u32,
}

impl NorthPole {
    fn new(elves: usize, problems: u32) -> Self {
        NorthPole {
            reindeer_back: 0,
            deliveries: 0,
            elves_waiting: Vec::new(),
            helped: vec![0; elves],
            problems,
            groups: 0,
        }
    }

    /// Elves that still have problems to solve.
    fn active_elves(&self) -> usize {
        self.helped.iter().filter(|&&n| n < self.problems).count()
    }

    /// A reindeer is back from vacation; returns the delivery it waits to make.
    fn reindeer_back(&mut self) -> u32 {
        self.reindeer_back += 1;
        self.deliveries
    }

    /// The gate after delivery `round`: open once Santa has made it.
    fn delivered(&mut self, round: u32) -> Option<u32> {
        (self.deliveries > round).then_some(self.deliveries)
    }

    /// An elf has a problem; returns how often it was helped so far.
    fn need_help(&mut self, elf: u32) -> u32 {
        self.elves_waiting.push(elf);
        self.helped[elf as usize]
    }

    /// The gate after a consultation: open once the elf was helped once more.
    fn helped(&mut self, elf: u32, before: u32) -> Option<u32> {
        (self.helped[elf as usize] > before).then_some(self.helped[elf as usize])
    }

    /// Santa sleeps until nine reindeer (first) or three elves are waiting — or, at the very
    /// end, every elf that still has a problem (fewer than three are left).
    fn next_job(&mut self) -> Option<Job> {
        if self.reindeer_back == 9 {
            self.reindeer_back = 0;
            return Some(Job::Deliver);
        }
        let waiting = self.elves_waiting.len();
        if waiting >= 3 || (waiting > 0 && waiting == self.active_elves()) {
            return Some(Job::Help(self.elves_waiting.drain(..waiting.min(3)).collect()));
        }
        None
    }

    /// Santa finished a job; returns (deliveries, problems solved) so far.
    fn done(&mut self, job: Job) -> (u32, u32) {
        match job {
            Job::Deliver => self.deliveries += 1,
            Job::Help(group) => {
                group.iter().for_each(|&elf| self.helped[elf as usize] += 1);
                self.groups += 1;
            }
        }
        (self.deliveries, self.helped.iter().sum())
    }
}

shared! {
    /// The North Pole monitor.
    pub struct NorthPoleRef(NorthPole);
    impl {
        fn reindeer_back(&mut self) -> u32;
        wait fn delivered(&mut self, round: u32) -> u32;
        fn need_help(&mut self, elf: u32) -> u32;
        wait fn helped(&mut self, elf: u32, before: u32) -> u32;
        wait fn next_job(&mut self) -> Job;
        fn done(&mut self, job: Job) -> (u32, u32);
    }
}

/// Santa, nine reindeer and `elves` elves, until `deliveries` deliveries are made and every
/// elf was helped `problems` times.
pub fn run(elves: u32, deliveries: u32, problems: u32) -> String {
    let pole = NorthPoleRef::new(NorthPole::new(elves as usize, problems));
    let solved = elves * problems;
    let mut threads = Vec::new();
    for _ in 0..9 {
        let pole = pole.clone();
        threads.push(thread::spawn(closure!(move || {
            for _ in 0..deliveries {
                let round = pole.reindeer_back();
                pole.delivered(round);
            }
        })));
    }
    for elf in 0..elves {
        let pole = pole.clone();
        threads.push(thread::spawn(closure!(move || {
            for _ in 0..problems {
                let before = pole.need_help(elf);
                pole.helped(elf, before);
            }
        })));
    }
    let santa = {
        let pole = pole.clone();
        thread::spawn(closure!(move || {
            let mut log = String::new();
            let (mut made, mut helped) = (0, 0);
            while made < deliveries || helped < solved {
                let job = pole.next_job();
                log.push(if job == Job::Deliver { 'D' } else { 'H' });
                (made, helped) = pole.done(job);
            }
            log
        }))
    };
    for handle in threads {
        handle.join().expect("a reindeer or an elf panicked");
    }
    let log = santa.join().expect("Santa panicked");
    let pole = pole.get();
    let deliveries = log.matches('D').count();
    let problems_solved: u32 = pole.helped.iter().sum();
    format!("deliveries={deliveries} problems_solved={problems_solved} helped_per_elf={:?}", pole.helped)
}
