// The body of `pipeline`, compiled twice: with std threads and channels and with strato's.
// Only the `use` lines around `include!` differ.

/// Three stages joined by bounded channels: produce 1..=n, square, sum (in this thread).
pub fn run(n: u64, capacity: usize) -> String {
    let (numbers, to_square) = sync::mpsc::sync_channel::<u64>(capacity);
    let (squares, to_sum) = sync::mpsc::sync_channel::<u64>(capacity);
    let producer = thread::spawn(closure!(move || {
        for i in 1..=n {
            numbers.send(i).expect("the squarer hung up");
        }
    }));
    let squarer = thread::spawn(closure!(move || {
        let mut count = 0u64;
        for i in to_square.iter() {
            squares.send(i * i).expect("the summer hung up");
            count += 1;
        }
        count
    }));
    let (total, received) = to_sum.iter().fold((0u64, 0u64), |(t, c), s| (t + s, c + 1));
    producer.join().expect("the producer panicked");
    let squared = squarer.join().expect("the squarer panicked");
    format!("items={received} squared={squared} sum_of_squares={total}")
}
