import MetronModel
import XCTest

final class ServerMetricsTests: XCTestCase {
    static let vllmPage = """
        # HELP vllm:num_requests_running Number of requests in model execution batches.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{engine="0",model_name="llama"} 12.0
        vllm:num_requests_waiting{engine="0",model_name="llama"} 52.0
        vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 1.0
        vllm:num_preemptions_total{engine="0",model_name="llama"} 40.0
        vllm:prefix_cache_queries_total{engine="0",model_name="llama"} 1000.0
        vllm:prefix_cache_hits_total{engine="0",model_name="llama"} 250.0
        # TYPE vllm:time_to_first_token_seconds histogram
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="llama"} 10.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="llama"} 30.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="1.0",model_name="llama"} 40.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="llama"} 40.0
        vllm:time_to_first_token_seconds_count{engine="0",model_name="llama"} 40.0
        vllm:time_to_first_token_seconds_sum{engine="0",model_name="llama"} 12.5
        process_start_time_seconds 1.7e9 1700000000000
        http_requests_total{handler="/metrics",note="a \\"quoted\\" \\\\ value\\nnext"} 3

        """

    func testParsesTheExpositionFormat() throws {
        let samples = try PrometheusText.parse(Self.vllmPage)
        XCTAssertEqual(samples.count, 14)
        XCTAssertEqual(samples[0].name, "vllm:num_requests_running")
        XCTAssertEqual(samples[0].label("model_name"), "llama")
        XCTAssertEqual(samples[0].value, 12)
        XCTAssertEqual(samples[9].value, 40)
        XCTAssertEqual(samples[9].label("le"), "+Inf")
        XCTAssertEqual(samples[12].value, 1.7e9, "a timestamp after the value is allowed")
        XCTAssertEqual(samples[13].label("note"), "a \"quoted\" \\ value\nnext")
        XCTAssertEqual(try PrometheusText.parse(PrometheusText.render(samples)), samples, "rendering reads back the same samples")
        XCTAssertEqual(try PrometheusText.parse("a +Inf\nb -Inf\nc NaN\n").map(\.value).prefix(2), [.infinity, -.infinity])
        XCTAssertEqual(try PrometheusText.parse("\n# only comments\n   \n"), [])
    }

    func testRejectsBadLinesWithTheirNumber() {
        let cases: [(String, Int, String)] = [
            ("ok 1\n{bad} 1\n", 2, "expected a metric name"),
            ("x{a=\"1\" 2\n", 1, "expected , or }"),
            ("x{a=1} 2\n", 1, "quoted value"),
            ("x{a=\"1\"}\n", 1, "expected a value"),
            ("x 1 2 3\n", 1, "at most a timestamp"),
            ("x one\n", 1, "not a number"),
            ("x 0x1p3\n", 1, "not a number"),
            ("x inf\n", 1, "not a number"),
            ("x 1 12.5\n", 1, "timestamp"),
            ("x{a=\"\\q\"} 1\n", 1, "invalid escape"),
            ("x{a=\"open} 1\n", 1, "unterminated"),
            ("<html>404</html>\n", 1, "expected a metric name"),
        ]
        for (text, line, fragment) in cases {
            XCTAssertThrowsError(try PrometheusText.parse(text), text) { error in
                guard let e = error as? PrometheusParseError else { return XCTFail("\(error)") }
                XCTAssertEqual(e.line, line, text)
                XCTAssertTrue(e.message.contains(fragment), "\(text): \(e.message)")
                XCTAssertTrue(e.description.hasPrefix("metrics text line \(line):"))
            }
        }
    }

    func testMapsVLLMNamesAndKeepsTheRestRaw() throws {
        let s = ServerMetricsSample(t: 1.5, samples: try PrometheusText.parse(Self.vllmPage))
        XCTAssertEqual(s.server, "vllm")
        XCTAssertEqual(s.running, 12)
        XCTAssertEqual(s.waiting, 52)
        XCTAssertEqual(s.kvCacheUsage, 1)
        XCTAssertEqual(s.preemptionsTotal, 40)
        XCTAssertEqual(s.prefixCacheHitsTotal, 250)
        XCTAssertEqual(s.prefixCacheQueriesTotal, 1000)
        XCTAssertEqual(s.ttft?.bounds, [0.1, 0.5, 1.0])
        XCTAssertEqual(s.ttft?.cumulative, [10, 30, 40])
        XCTAssertEqual(s.ttft?.count, 40)
        XCTAssertEqual(s.ttft?.sum, 12.5)
        XCTAssertEqual(s.raw?["process_start_time_seconds"], 1.7e9)
        XCTAssertNil(s.raw?["vllm:num_requests_running{engine=\"0\",model_name=\"llama\"}"], "mapped series are not repeated raw")
        XCTAssertEqual(s.raw?.count, 2)
    }

    func testMapsSGLangTGIAndLlamaCppNames() throws {
        let sglang = ServerMetricsSample(t: 0, samples: try PrometheusText.parse("""
            sglang:num_running_reqs{model_name="m"} 3
            sglang:num_queue_reqs{model_name="m"} 4
            sglang:token_usage{model_name="m"} 0.28
            sglang:cache_hit_rate{model_name="m"} 0.5
            sglang:time_to_first_token_seconds_bucket{le="0.5",model_name="m"} 2
            sglang:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 3
            """))
        XCTAssertEqual(sglang.server, "sglang")
        XCTAssertEqual([sglang.running, sglang.waiting, sglang.kvCacheUsage, sglang.cacheHitRate], [3, 4, 0.28, 0.5])
        XCTAssertEqual(sglang.ttft?.count, 3)
        let tgi = ServerMetricsSample(t: 0, samples: try PrometheusText.parse("tgi_queue_size 7\ntgi_batch_current_size 16\n"))
        XCTAssertEqual(tgi.server, "tgi")
        XCTAssertEqual([tgi.running, tgi.waiting], [16, 7])
        XCTAssertNil(tgi.kvCacheUsage)
        let llama = ServerMetricsSample(t: 0, samples: try PrometheusText.parse(
            "llamacpp:requests_processing 2\nllamacpp:requests_deferred 5\nllamacpp:kv_cache_usage_ratio 0.75\n"))
        XCTAssertEqual(llama.server, "llamacpp")
        XCTAssertEqual([llama.running, llama.waiting, llama.kvCacheUsage], [2, 5, 0.75])
        let unknown = ServerMetricsSample(t: 0, samples: try PrometheusText.parse("foo 1\n"))
        XCTAssertNil(unknown.server)
        XCTAssertEqual(unknown.raw, ["foo": 1])
    }

    func testSumsGaugesOverEnginesAndTakesTheFullestCache() throws {
        let s = ServerMetricsSample(t: 0, samples: try PrometheusText.parse("""
            vllm:num_requests_running{engine="0"} 3
            vllm:num_requests_running{engine="1"} 4
            vllm:gpu_cache_usage_perc{engine="0"} 0.2
            vllm:gpu_cache_usage_perc{engine="1"} 0.9
            """))
        XCTAssertEqual(s.running, 7)
        XCTAssertEqual(s.kvCacheUsage, 0.9)
    }

    func testHistogramDeltaQuantileAndBucketing() {
        let before = ServerHistogram(bounds: [0.1, 0.5, 1], cumulative: [5, 10, 10], count: 10, sum: 2)
        let after = ServerHistogram(bounds: [0.1, 0.5, 1], cumulative: [5, 30, 50], count: 50, sum: 30)
        let delta = try! XCTUnwrap(after.since(before))
        XCTAssertEqual(delta.cumulative, [0, 20, 40])
        XCTAssertEqual(delta.count, 40)
        XCTAssertEqual(delta.sum, 28)
        // Rank 20 of 40 is the top of the (0.1, 0.5] bucket; rank 30 is half way through (0.5, 1].
        XCTAssertEqual(delta.quantile(0.5)!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(delta.quantile(0.75)!, 0.75, accuracy: 1e-12)
        XCTAssertNil(before.since(after), "a counter that went back is a restart, not a delta")
        XCTAssertNil(after.since(ServerHistogram(bounds: [1], cumulative: [1], count: 1)))
        XCTAssertNil(ServerHistogram(bounds: [1], cumulative: [0], count: 0).quantile(0.5))
        let client = ServerHistogram.bucketing([0.05, 0.2, 0.3, 0.7, 2.0], bounds: [0.1, 0.5, 1])
        XCTAssertEqual(client.cumulative, [1, 3, 4])
        XCTAssertEqual(client.count, 5)
        XCTAssertEqual(client.quantile(1), 1, "beyond the last finite bound: that bound")
    }

    func testServerViewOfAWindow() {
        func sample(_ t: Double, kv: Double, waiting: Double, preemptions: Double) -> ServerMetricsSample {
            var s = ServerMetricsSample(t: t, samples: [])
            s.kvCacheUsage = kv
            s.waiting = waiting
            s.running = 10
            s.preemptionsTotal = preemptions
            return s
        }
        let samples = [
            sample(9.5, kv: 0.99, waiting: 80, preemptions: 3),  // before the window: only anchors the counter
            sample(10.5, kv: 0.6, waiting: 10, preemptions: 5),
            ServerMetricsSample(t: 11.5, error: "GET http://h/metrics failed: timeout"),
            sample(12.5, kv: 1.0, waiting: 52, preemptions: 40),
            sample(30, kv: 0.1, waiting: 99, preemptions: 90),  // after it
        ]
        let view = try! XCTUnwrap(ServerView(samples: samples, windowStartS: 10, windowEndS: 20))
        XCTAssertEqual(view.scrapes, 3)
        XCTAssertEqual(view.failedScrapes, 1)
        XCTAssertEqual(view.peakKVCacheUsage, 1)
        XCTAssertEqual(view.peakWaiting, 52)
        XCTAssertEqual(view.preemptions, 37)
        XCTAssertEqual(view.sentence, "server: KV cache 100 % full, 37 preemptions, up to 52 waiting, 1 of 3 scrapes failed")
        XCTAssertNil(ServerView(samples: samples, windowStartS: 40, windowEndS: 50))
        let failed = ServerView(samples: [ServerMetricsSample(t: 11, error: "HTTP 404")], windowStartS: 10, windowEndS: 20)
        XCTAssertEqual(failed?.sentence, "server: no metrics (HTTP 404)")
    }

    func testCacheHitRateFromCountersOverTheWindow() {
        var a = ServerMetricsSample(t: 0, samples: []), b = a
        a.prefixCacheHitsTotal = 100; a.prefixCacheQueriesTotal = 400
        b.t = 5; b.prefixCacheHitsTotal = 160; b.prefixCacheQueriesTotal = 480
        XCTAssertEqual(ServerView(samples: [a, b], windowStartS: 0, windowEndS: 10)?.cacheHitRate, 0.75)
    }
}
