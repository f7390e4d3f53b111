/// The simulator's deterministic tokenizer: a token is a maximal run of letters and digits, or any
/// single other character that is not whitespace. "Hello, world!" is 4 tokens; a prompt of N
/// space-separated plain words is N tokens. A completion prompt gets one beginning-of-sequence token;
/// a chat conversation gets that plus `chatMessageOverhead` per message (role header and end marker)
/// plus `chatReplyOverhead` for the assistant's reply header, the shape of Llama-3's chat template.
public enum SimTokenizer {
    public static let beginOfSequence = 1
    public static let chatMessageOverhead = 4
    public static let chatReplyOverhead = 3

    /// Tokens of plain text, without special tokens.
    public static func count(_ text: String) -> Int { pieces(text).count }

    /// The token pieces of plain text, for /tokenize.
    public static func pieces(_ text: String) -> [Substring] {
        var out: [Substring] = []
        var start: String.Index?
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            let isWord = c.isLetter || c.isNumber
            if isWord {
                if start == nil { start = i }
            } else {
                if let s = start { out.append(text[s..<i]); start = nil }
                if !c.isWhitespace { out.append(text[i...i]) }
            }
            i = text.index(after: i)
        }
        if let s = start { out.append(text[s...]) }
        return out
    }

    /// Prompt tokens of a completion prompt.
    public static func completionPromptTokens(_ prompt: String, addSpecialTokens: Bool = true) -> Int {
        count(prompt) + (addSpecialTokens ? beginOfSequence : 0)
    }

    /// Prompt tokens of a chat conversation (message contents in order).
    public static func chatPromptTokens(_ contents: [String]) -> Int {
        beginOfSequence + contents.reduce(0) { $0 + count($1) + chatMessageOverhead } + chatReplyOverhead
    }

    /// The text of output token `index`: common words, each one token under this tokenizer.
    public static func outputText(_ index: Int) -> String { words[index % words.count] }

    private static let words = [" the", " of", " and", " to", " in", " a", " is", " that", " for", " it"]
}
