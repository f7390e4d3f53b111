import Foundation
import MetronLoad
import XCTest

final class SecretMaskingTests: XCTestCase {
    func testSecretsOnACommandLineAreMaskedAndTheRestKept() throws {
        let masked = SecretMasking.commandLine([
            "metron", "run", "--url", "http://user:pw-1@127.0.0.1:8000/v1", "--api-key", "k-2", "--hf-token=t-3",
            "--header", "Authorization: Bearer b-4", "--extra-body", #"{"temperature":0,"api_key":"k-5","nested":{"accessToken":"t-6"},"max_tokens":9}"#,
            "--api-key-env", "OPENAI_API_KEY", "--first-token-timeout", "120", "sk-7", "--tokens-per-word", "1.3",
        ])
        let text = masked.joined(separator: " ")
        for secret in ["pw-1", "k-2", "t-3", "b-4", "k-5", "t-6", "sk-7"] { XCTAssertFalse(text.contains(secret), "\(secret) in \(text)") }
        XCTAssertEqual(masked[3], "http://***@127.0.0.1:8000/v1")
        XCTAssertEqual(masked[5], "***")
        XCTAssertEqual(masked[6], "--hf-token=***")
        XCTAssertEqual(masked[8], "Authorization: ***")
        let body = try JSONSerialization.jsonObject(with: Data(masked[10].utf8)) as! [String: Any]
        XCTAssertEqual(body["api_key"] as? String, "***")
        XCTAssertEqual((body["nested"] as? [String: Any])?["accessToken"] as? String, "***")
        XCTAssertEqual(body["max_tokens"] as? Int, 9, "max_tokens names no secret")
        XCTAssertEqual(body["temperature"] as? Int, 0)
        // A variable's name, a timeout and a ratio are kept.
        XCTAssertEqual(Array(masked[11...14]), ["--api-key-env", "OPENAI_API_KEY", "--first-token-timeout", "120"])
        XCTAssertEqual(masked[15], "***")
        XCTAssertEqual(Array(masked[16...]), ["--tokens-per-word", "1.3"])
    }

    func testAnExtraBodyThatIsNotJSONIsMaskedWhole() {
        XCTAssertEqual(SecretMasking.commandLine(["--extra-body", "{token: t-1"]), ["--extra-body", "***"])
        XCTAssertEqual(SecretMasking.commandLine(["--header", "no colon t-2"]), ["--header", "***"])
    }
}
