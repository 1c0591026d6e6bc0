//! The article's `batch_resize` (section 3.3): resizing images is CPU-bound, blocking work. Done
//! directly in a task it freezes the event loop; done through `corio::to_thread` it runs on the
//! blocking pool, in parallel, while the loop stays responsive.
//!
//! ```text
//! cargo run --release -p corio --example to_thread
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use image::imageops::{FilterType, resize};
use image::{Rgb, RgbImage};

/// A generated 1600x1200 test picture (a gradient with some texture), as raw pixels.
fn make_image(seed: u32) -> RgbImage {
    RgbImage::from_fn(1600, 1200, |x, y| {
        let v = x.wrapping_mul(31) ^ y.wrapping_mul(17) ^ seed.wrapping_mul(97);
        Rgb([(x % 256) as u8, (y % 256) as u8, (v % 256) as u8])
    })
}

/// The blocking work: resize to 800x600 (the article's `img.resize((800, 600))`).
fn resize_blocking(img: &RgbImage) -> RgbImage {
    resize(img, 800, 600, FilterType::Triangle)
}

/// Runs `work` on a single-threaded loop next to a 5 ms ticker; returns (elapsed, ticks).
fn with_ticker<F, Fut>(work: F) -> (Duration, u64)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    corio::run_local(async move {
        let ticks = Arc::new(AtomicU64::new(0));
        let t = ticks.clone();
        let ticker = corio::spawn(async move {
            loop {
                corio::sleep(Duration::from_millis(5)).await;
                t.fetch_add(1, Ordering::Relaxed);
            }
        });
        let start = Instant::now();
        work().await;
        let elapsed = start.elapsed();
        drop(ticker);
        (elapsed, ticks.load(Ordering::Relaxed))
    })
}

fn main() {
    const IMAGES: u32 = 8;
    let images: Arc<Vec<RgbImage>> = Arc::new((0..IMAGES).map(make_image).collect());
    println!("resizing {IMAGES} images of 1600x1200 to 800x600, next to a 5 ms ticker task\n");

    // ❌ bad_resize: the blocking call runs on the loop itself.
    let imgs = images.clone();
    let (bad, bad_ticks) = with_ticker(|| async move {
        for img in imgs.iter() {
            std::hint::black_box(resize_blocking(img));
        }
    });
    println!(
        "  blocking, in the task:      {bad:>8.2?}   ticker ticked {bad_ticks:>3} times (the loop was frozen)"
    );

    // ✅ good_resize, one at a time: the loop stays free, but no parallelism.
    let imgs = images.clone();
    let (one, one_ticks) = with_ticker(|| async move {
        for i in 0..imgs.len() {
            let imgs = imgs.clone();
            std::hint::black_box(corio::to_thread(move || resize_blocking(&imgs[i])).await);
        }
    });
    println!("  to_thread, one by one:      {one:>8.2?}   ticker ticked {one_ticks:>3} times");

    // ✅ batch_resize: all at once through to_thread, gathered.
    let imgs = images.clone();
    let (batch, batch_ticks) = with_ticker(|| async move {
        let jobs = (0..imgs.len()).map(|i| {
            let imgs = imgs.clone();
            corio::to_thread(move || resize_blocking(&imgs[i]))
        });
        let resized = corio::join_all(jobs).await;
        assert!(resized.iter().all(|r| r.dimensions() == (800, 600)));
    });
    println!("  to_thread, all at once:     {batch:>8.2?}   ticker ticked {batch_ticks:>3} times");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let speedup = one.as_secs_f64() / batch.as_secs_f64();
    if speedup >= 1.0 {
        println!("\n  batch vs one by one: {speedup:.1}x faster on {cores} cores");
    } else {
        // The resizes share the cores with the ticker and the rest of the machine; with few
        // cores, running them at once can lose to running them in turn.
        println!(
            "\n  batch vs one by one: {:.1}x slower on {cores} cores (too few cores to gain here)",
            1.0 / speedup
        );
    }
}
