import CCurl

/// Request headers as the `curl_slist` libcurl takes; the caller frees it with `curl_slist_free_all`.
func curlHeaderList(_ headers: [String]) throws(CCallError) -> UnsafeMutablePointer<curl_slist>? {
    var list: UnsafeMutablePointer<curl_slist>?
    for header in headers {
        // On failure curl_slist_append returns NULL and leaves the list as it was.
        guard let longer = curl_slist_append(list, header) else {
            curl_slist_free_all(list)
            throw CCallError(call: "curl_slist_append", reason: "out of memory")
        }
        list = longer
    }
    return list
}

/// The options every request of this module sets on an easy handle.
struct CurlRequestOptions {
    var url: String
    /// The POST body (it must outlive the transfer); nil for a GET.
    var body: (bytes: UnsafeMutableRawPointer?, count: Int)?
    var headers: UnsafeMutablePointer<curl_slist>?
    var write: curl_write_callback
    var writeData: UnsafeMutableRawPointer
    /// At least CURL_ERROR_SIZE bytes.
    var errorBuffer: UnsafeMutablePointer<CChar>
    var timeoutMS: Int
    var insecure: Bool

    func apply(to easy: UnsafeMutableRawPointer) throws(CCallError) {
        try check(metron_easy_set_string(easy, CURLOPT_URL, url), "CURLOPT_URL", .raise)
        if let body {
            try check(metron_easy_set_long(easy, CURLOPT_POST, 1), "CURLOPT_POST", .raise)
            try check(metron_easy_set_ptr(easy, CURLOPT_POSTFIELDS, body.bytes), "CURLOPT_POSTFIELDS", .raise)
            try check(metron_easy_set_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)),
                      "CURLOPT_POSTFIELDSIZE_LARGE", .raise)
        } else {
            try check(metron_easy_set_long(easy, CURLOPT_HTTPGET, 1), "CURLOPT_HTTPGET", .raise)
        }
        try check(metron_easy_set_slist(easy, CURLOPT_HTTPHEADER, headers), "CURLOPT_HTTPHEADER", .raise)
        try check(metron_easy_set_write_function(easy, write), "CURLOPT_WRITEFUNCTION", .raise)
        try check(metron_easy_set_ptr(easy, CURLOPT_WRITEDATA, writeData), "CURLOPT_WRITEDATA", .raise)
        try check(metron_easy_set_ptr(easy, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER", .raise)
        try check(metron_easy_set_long(easy, CURLOPT_NOSIGNAL, 1), "CURLOPT_NOSIGNAL", .raise)
        try check(metron_easy_set_long(easy, CURLOPT_TIMEOUT_MS, timeoutMS), "CURLOPT_TIMEOUT_MS", .raise)
        if insecure {
            try check(metron_easy_set_long(easy, CURLOPT_SSL_VERIFYPEER, 0), "CURLOPT_SSL_VERIFYPEER", .raise)
            try check(metron_easy_set_long(easy, CURLOPT_SSL_VERIFYHOST, 0), "CURLOPT_SSL_VERIFYHOST", .raise)
        }
    }
}

/// The response status of the request on `easy`, 0 before the status line has been read.
func responseCode<Failure>(_ easy: UnsafeMutableRawPointer, _ onFailure: OnFailure<Failure>) throws(Failure) -> Int {
    var code = 0
    try check(metron_easy_get_long(easy, CURLINFO_RESPONSE_CODE, &code), "CURLINFO_RESPONSE_CODE", onFailure)
    return code
}
