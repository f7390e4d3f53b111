import MetronSimModel

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

    /// The identities of a completion prompt's tokens, for prefix caching: one per piece, after the
    /// beginning-of-sequence token.
    public static func tokenIdentities(completionPrompt prompt: String, addSpecialTokens: Bool = true) -> [UInt64] {
        (addSpecialTokens ? [PromptBlocks.tokenIdentity(beginOfSequenceText)] : [])
            + pieces(prompt).map { PromptBlocks.tokenIdentity($0) }
    }

    /// The identities of a chat conversation's tokens as the template lays it out: the
    /// beginning-of-sequence token; per message a role header (start, role, end), the content's pieces
    /// and an end marker; then the assistant's reply header. As many as `chatPromptTokens` counts.
    public static func tokenIdentities(chat messages: [(role: String, content: String)]) -> [UInt64] {
        var out = [PromptBlocks.tokenIdentity(beginOfSequenceText)]
        func header(_ role: String) {
            out += [
                PromptBlocks.tokenIdentity("<|start_header_id|>"), PromptBlocks.tokenIdentity(role),
                PromptBlocks.tokenIdentity("<|end_header_id|>"),
            ]
        }
        for message in messages {
            header(message.role)
            out += pieces(message.content).map { PromptBlocks.tokenIdentity($0) }
            out.append(PromptBlocks.tokenIdentity("<|eot_id|>"))
        }
        header("assistant")
        return out
    }

    // Special tokens' text: no piece of plain text can equal them, so neither can their identities.
    private static let beginOfSequenceText = "<|begin_of_text|>"

    /// The text of output token `index`: common words, each one token under this tokenizer.
    public static func outputText(_ index: Int) -> String { words[index % words.count] }

    private static let words = [" the", " of", " and", " to", " in", " a", " is", " that", " for", " it"]
}
