import MetronModel

/// Prompts of a requested token length without a tokenizer: words from a shipped corpus of plain
/// prose, with the number of words per token calibrated against the server's own count.
public struct PromptBuilder: Sendable, Equatable, Codable {
    /// Server tokens per corpus word (the slope of the calibration).
    public var tokensPerWord: Double
    /// Tokens the server adds to every prompt (chat template, the request tag, BOS).
    public var overheadTokens: Double

    public init(tokensPerWord: Double = 1.3, overheadTokens: Double = 0) {
        self.tokensPerWord = tokensPerWord
        self.overheadTokens = overheadTokens
    }

    enum CodingKeys: String, CodingKey {
        case tokensPerWord = "tokens_per_word", overheadTokens = "overhead_tokens"
    }

    public func wordCount(forTokens tokens: Int) -> Int {
        max(1, Int(((Double(tokens) - overheadTokens) / tokensPerWord).rounded()))
    }

    /// The prompt of request `id` aiming at `tokens` server tokens. It starts with the request's
    /// own tag and a corpus position of its own, so no two prompts share a cacheable prefix.
    public func prompt(id: Int, tokens: Int) -> String {
        Self.text(id: id, words: wordCount(forTokens: tokens))
    }

    /// The prompt of a planned request (for a turn, its own message): its shared prefix's text, when it
    /// has one, then text of its own.
    public func prompt(for request: PlannedRequest) -> String {
        guard let prefix = request.sharedPrefix else { return prompt(id: request.id, tokens: request.ownPromptTokens) }
        // The tag's three words are part of the prefix's tokens.
        let words = max(1, Int((Double(prefix.tokens) / tokensPerWord).rounded()) - 3)
        return Self.text(tag: "Shared context \(prefix.index):", position: prefix.index &* 104_729, words: words)
            + " " + prompt(id: request.id, tokens: request.ownPromptTokens - prefix.tokens)
    }

    /// `words` corpus words after a tag naming the request.
    public static func text(id: Int, words: Int) -> String {
        text(tag: "Request \(id):", position: id &* 7919, words: words)
    }

    private static func text(tag: String, position start: Int, words: Int) -> String {
        let corpus = PromptCorpus.words
        var out = tag
        out.reserveCapacity(words * 7 + 16)
        var position = start % corpus.count
        if position < 0 { position += corpus.count }
        for _ in 0..<words {
            out.append(" ")
            out.append(corpus[position])
            position += 1
            if position == corpus.count { position = 0 }
        }
        return out
    }
}

/// Original plain prose written for this tool, free of any copyright of others.
enum PromptCorpus {
    static let text = """
        The river town woke slowly on market days. Before the sun cleared the hills, the baker had \
        already pulled the first loaves from the oven, and the smell of warm crust drifted down the \
        narrow street toward the water. Fishermen checked their nets by lantern light, arguing softly \
        about the weather and the price of salt. A cart loaded with cabbages, apples and late pears \
        rattled over the bridge, its driver humming a tune that nobody else remembered. By the time \
        the bell in the square rang seven, the stalls were open and the first customers were walking \
        between them, comparing cloth, tasting cheese and asking after each other's families. \
        Travellers who passed through often said the town was ordinary, and in a way they were right. \
        It had no famous building, no great battle in its past and no river wide enough for ships. \
        What it had was a habit of attention. People noticed when a neighbour's chimney stopped \
        smoking, when the miller walked with a limp, when a child stayed home from school. The \
        noticing was not always welcome, but it meant that trouble was seldom faced alone. In winter \
        the river froze along its edges, and the older children skated in careful circles while their \
        parents watched from the bank with cups of spiced cider. In spring the water rose and brown \
        floods crept into the lower gardens, leaving behind a layer of silt that made the next harvest \
        generous. Summer brought long evenings of music in the square, where a fiddler, a drummer and \
        a woman with a clear high voice played the same twelve songs in a different order each night. \
        Autumn was the season of counting: sacks of grain, barrels of cider, cords of firewood stacked \
        against the north walls. The schoolteacher kept a notebook of the weather going back thirty \
        years, and she liked to remind anyone who complained about the rain that the wettest year on \
        record had also been the year of the best plums. Engineers came once to measure the river for \
        a dam, stayed a month, drew careful maps and left again, and the maps hung for decades in the \
        inn, yellowing above the fireplace. Nobody built the dam. The river kept its own schedule, \
        patient and indifferent, carrying leaves and light and the occasional lost boot toward the \
        distant sea. On clear nights the stars were bright enough to read by, and the old astronomer \
        who lived above the chandler's shop would set up his brass telescope on the bridge and let \
        anyone look through it who asked politely. He explained the rings of the far planets, the \
        slow wheel of the constellations and the way light from some stars had left them before the \
        town was founded. Most listeners nodded, looked, and went home to bed, but a few never forgot \
        the feeling of the cold brass against their eye and the sudden depth of the sky.
        """

    static let words: [String] = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}
