using System.Text.RegularExpressions;
using static FinGen.Native.Tests.FingenCli;

namespace FinGen.Native.Tests;

/// <summary>
/// What a new user reads in README.md matches what fingen does: the two set-up commands run, the usage block lists
/// exactly the options of every command's <c>--help</c>, every example parses with the real parser, and the full
/// examples run on the embedded data (with <c>--steps</c> cut to <see cref="ExampleSteps"/>).
/// </summary>
[TestFixture]
public sealed partial class ReadmeTests
{
    /// <summary>Steps an executed <c>fingen train</c> example runs instead of what it asks for (the README's own are minutes).</summary>
    private const int ExampleSteps = 3;

    private static string Readme => File.ReadAllText(Path.Combine(Repository.Root, "README.md"));

    private static string[] SetupCommands()
    {
        var block = SetupBlock().Match(Readme);
        Assert.That(block.Success, "README.md has no <!-- setup:begin --> ... <!-- setup:end --> block");
        return block.Groups[1].Value.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("dotnet ", StringComparison.Ordinal)).ToArray();
    }

    [Test]
    public void TheSetupHasTwoCommandsTheMainJobThenTheTests()
    {
        var commands = SetupCommands();
        Assert.That(commands, Has.Length.EqualTo(2));
        Assert.That(commands[0], Does.StartWith("dotnet run --project "));
        Assert.That(commands[1], Does.StartWith("dotnet test"));
        string project = commands[0].Split(' ')[3];
        Assert.That(Directory.Exists(Path.Combine(Repository.Root, project)) || File.Exists(Path.Combine(Repository.Root, project)), project);
    }

    [Test]
    public void TheMainJobsArgumentsRun()
    {
        string command = SetupCommands()[0];
        int separator = command.IndexOf(" -- ", StringComparison.Ordinal);
        Assert.That(separator, Is.GreaterThan(0), "the main job passes its arguments after --");
        var args = command[(separator + 4)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.That(args[0], Is.EqualTo("train"));
        string dir = Directory.CreateTempSubdirectory("fingen-readme-").FullName;
        try
        {
            // The same arguments, shortened to a few steps and pointed at a temporary directory.
            args.AddRange(["--steps", "3", "--out", Path.Combine(dir, "run")]);
            var error = new StringWriter();
            int code = FinGen.Cli.Cli.Run([.. args], new StringWriter(), error);
            Assert.That(code, Is.Zero, error.ToString());
            Assert.That(File.Exists(Path.Combine(dir, "run", "checkpoint.safetensors")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- the usage block against --help

    [Test]
    public void TheUsageBlockListsExactlyTheCommandsAndOptionsOfTheirHelp()
    {
        var usage = UsageBlock(Readme);
        var commands = HelpCommands(Help());
        Assert.That(commands, Is.Not.Empty, "'fingen --help' lists no commands");
        Assert.That(usage.Keys, Is.EquivalentTo(commands), "the commands of README.md's usage block against those 'fingen --help' lists");
        var problems = new List<string>();
        foreach (string command in commands)
        {
            var help = HelpOptions(Help(command));
            var listed = usage[command];
            problems.AddRange(help.Keys.Except(listed.Keys).Select(o => $"fingen {command} {o}: in --help, missing from README.md's usage block"));
            problems.AddRange(listed.Keys.Except(help.Keys).Select(o => $"fingen {command} {o}: in README.md's usage block, not in --help"));
            foreach (var (option, choices) in help)
            {
                if (choices is null || !listed.TryGetValue(option, out var written)) continue;
                if (written is null || !choices.Split('|').ToHashSet().SetEquals(written.Split('|')))
                    problems.Add($"fingen {command} {option}: --help accepts {choices}, README.md's usage block lists {written ?? "no values"}");
            }
        }
        Assert.That(problems, Is.Empty, string.Join("\n", problems));
    }

    [Test]
    public void TheUsageReaderSeesEveryOptionAndItsChoices()
    {
        // The reader the comparison above relies on, on the shapes the usage block uses.
        const string readme = "text\n```\nfingen train  [--model gan|vae] [--steps N] [--noise normal|student-t[:DOF]]\n              [--column NAME | --columns A,B,C] [--allow-extreme]\nfingen sample --checkpoint FILE [--count N]\nfingen sample --checkpoint FILE --out FILE.parquet [--paths N]\nfingen info\n```\n";
        var usage = UsageBlock(readme);
        Assert.That(usage.Keys, Is.EquivalentTo(new[] { "train", "sample", "info" }));
        Assert.That(usage["train"], Is.EquivalentTo(new Dictionary<string, string?>
        {
            ["--model"] = "gan|vae", ["--steps"] = "N", ["--noise"] = "normal|student-t[:DOF]", ["--column"] = "NAME", ["--columns"] = "A,B,C", ["--allow-extreme"] = null,
        }));
        Assert.That(usage["sample"].Keys, Is.EquivalentTo(new[] { "--checkpoint", "--count", "--out", "--paths" }), "two lines of one command add up");
        Assert.That(usage["info"], Is.Empty);

        var help = HelpOptions(Help("bench"));
        Assert.That(help["--model"], Is.EqualTo("conv-vae|dcgan|gan|vae"));
        Assert.That(help.ContainsKey("--warmup") && help["--warmup"] is null);
        Assert.That(help.ContainsKey("--help"), Is.False, "the help option is every command's and not the README's to list");
    }

    // ---- the examples

    [Test]
    public void EveryExampleParses()
    {
        var problems = new List<string>();
        var examples = Examples(Readme);
        Assert.That(examples, Is.Not.Empty);
        foreach (var example in examples)
        {
            var errors = FinGen.Cli.Cli.CreateRoot(Quiet()).Parse([.. WithNumbers(example.Words)]).Errors;
            string? error = example.Full ? errors.FirstOrDefault()?.Message : FragmentError(example.Words[1..], example.Words[0]);
            if (error is not null) problems.Add($"`{example.Text}`: {error}");
        }
        foreach (var fragment in OptionFragments(Readme))
        {
            var error = FragmentError(Words(fragment));
            if (error is not null) problems.Add($"`{fragment}`: {error}");
        }
        Assert.That(problems, Is.Empty, string.Join("\n", problems));
    }

    [Test]
    public void EveryFullExampleRunsOnTheEmbeddedData()
    {
        string dir = Directory.CreateTempSubdirectory("fingen-readme-examples-").FullName;
        try
        {
            var examples = Examples(Readme).Where(e => e.Full).ToList();
            Assert.That(examples.Select(e => e.Words[0]), Does.Contain("train").And.Contain("info"));
            for (int i = 0; i < examples.Count; i++)
            {
                var args = Runnable(examples[i].Words, Path.Combine(dir, $"example-{i}"));
                TestContext.Out.WriteLine($"runs: {examples[i].Text}  as  fingen {string.Join(' ', args)}");
                var result = Fingen([.. args]);
                Assert.That(result.Code, Is.Zero, $"{examples[i].Text}: {result.Error}");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void EveryColumnExampleNamesAColumnOfTheEmbeddedData()
    {
        using var reader = new StreamReader(FinGen.Native.Data.EmbeddedData.OpenSp500Csv());
        var header = reader.ReadLine()!.Split(',').ToHashSet(StringComparer.OrdinalIgnoreCase);
        var texts = new List<string> { Readme };
        texts.AddRange(HelpCommands(Help()).Select(c => Help(c)));
        var named = texts.SelectMany(t => ColumnExample().Matches(t)).Select(m => m.Groups[1].Value.Trim('"'))
            .Where(name => !IsPlaceholder(name)).ToList();
        Assert.That(named, Is.Not.Empty, "no --column example to check");
        Assert.That(named, Has.All.Matches<string>(header.Contains), $"the embedded S&P 500 columns are {string.Join(", ", header)}");
    }

    [Test]
    public void EveryTimeClaimNamesItsMeasurement()
    {
        // A duration the README states ("about 10 minutes", "in 5 s") is a measurement; its sentence must say where it
        // is recorded: .ci/run's log, or a committed results file under benchmarks/results/ that holds that figure.
        var claims = new List<string>();
        foreach (string sentence in Sentences(Readme))
            foreach (Match claim in TimeClaim().Matches(sentence))
                if (!sentence.Contains(".ci/run", StringComparison.Ordinal) && !ResultsFile().Matches(sentence).Any(m => Holds(m.Value, claim)))
                    claims.Add($"'{claim.Value}' in: {sentence}");
        Assert.That(claims, Is.Empty, string.Join("\n", claims));
        Assert.That(TimeClaim().Match("rerun with `run.sh`, about 10 minutes") is { Success: true } old && !Holds("benchmarks/results/quality.md", old),
            "the claim the README used to make is one, and quality.md does not hold it");
    }

    /// <summary>Whether the committed file <paramref name="path"/> states the claim's figure in the claim's unit.</summary>
    private static bool Holds(string path, Match claim)
    {
        string file = Path.Combine(Repository.Root, path);
        if (!File.Exists(file)) return false;
        string unit = claim.Groups[2].Value switch { var u when u.StartsWith("min", StringComparison.Ordinal) => "min", var u when u.StartsWith("sec", StringComparison.Ordinal) => "s", var u when u.StartsWith("hour", StringComparison.Ordinal) => "h", var u => u };
        return Regex.IsMatch(File.ReadAllText(file), $@"(?<![\d.,]){Regex.Escape(claim.Groups[1].Value)}\s*{Regex.Escape(unit)}");
    }

    /// <summary>README.md's prose (no ``` blocks, no table rows) cut into sentences.</summary>
    private static IEnumerable<string> Sentences(string readme) =>
        FencedBlock().Replace(readme, "").Split("\n\n").Where(p => !p.TrimStart().StartsWith('|'))
            .SelectMany(p => SentenceEnd().Split(p.ReplaceLineEndings(" ")));

    /// <summary>A <c>fingen</c> command the README shows; <see cref="Full"/> when it is one to run, not a fragment of one.</summary>
    internal sealed record Example(string Text, string[] Words, bool Full);

    /// <summary>
    /// Lines of ``` blocks and inline code that start with <c>fingen</c> or <c>dotnet run --project src/FinGen.Cli</c>,
    /// as argument lists; synopses (with [ ] or &lt; &gt;) are the usage block's, and a bare <c>fingen eval</c> in prose
    /// names a command rather than showing a run (it must still be one). Inline <c>sample --out FILE.csv</c> is a fragment.
    /// </summary>
    internal static List<Example> Examples(string readme)
    {
        var examples = new List<Example>();
        var commands = HelpCommands(Help());
        foreach (string block in FencedBlocks(readme))
            foreach (string line in block.Split('\n').Select(l => l.Trim()))
                if (AsArguments(line) is { } words) examples.Add(new Example(line, words, Full: true));
        foreach (Match span in InlineCode().Matches(FencedBlock().Replace(readme, "")))
        {
            string text = span.Groups[1].Value.Trim();
            if (AsArguments(text) is { } words)
            {
                if (words.Length == 1) Assert.That(commands, Does.Contain(words[0]), $"README.md mentions `{text}`, which is no command");
                else examples.Add(new Example(text, words, Full: true));
            }
            else if (text.Split(' ')[0] is var first && commands.Contains(first) && text.Contains(" --", StringComparison.Ordinal))
                examples.Add(new Example(text, Words(text), Full: false));
        }
        return examples;
    }

    private static string[]? AsArguments(string line)
    {
        if (line.Contains('[') || line.Contains('<')) return null;
        if (line.StartsWith("fingen ", StringComparison.Ordinal)) return Words(line)[1..];
        const string dotnetRun = "dotnet run --project src/FinGen.Cli";
        int separator = line.IndexOf(" -- ", StringComparison.Ordinal);
        return line.StartsWith(dotnetRun, StringComparison.Ordinal) && separator > 0 ? Words(line[(separator + 4)..]) : null;
    }

    /// <summary>Inline code that is options alone, e.g. <c>--filter gjr-garch --transform lambert-w</c>.</summary>
    internal static List<string> OptionFragments(string readme) =>
        [.. InlineCode().Matches(FencedBlock().Replace(readme, "")).Select(m => m.Groups[1].Value.Trim()).Where(t => t.StartsWith("--", StringComparison.Ordinal)).Distinct()];

    /// <summary>
    /// Why an option fragment is wrong, or null: <paramref name="command"/> (else some command) must list all its options
    /// and parse it with its required options added, each of a|b|c's choices alone; a lone name (<c>--lr</c>) must be an option.
    /// </summary>
    private static string? FragmentError(string[] words, string? command = null)
    {
        var names = words.Where(w => w.StartsWith("--", StringComparison.Ordinal) && w != "--help").ToArray(); // --help is every command's
        var candidates = (command is null ? HelpCommands(Help()) : [command]).Where(c => names.All(HelpOptions(Help(c)).ContainsKey)).ToList();
        if (candidates.Count == 0) return $"no command{(command is null ? "" : $" {command}")} has {string.Join(" and ", names)}";
        if (words.Length == 1) return null;
        int choice = Array.FindIndex(words, w => w.Contains('|'));
        List<string[]> variants = choice < 0 ? [words] : [.. words[choice].Split('|').Select(c => words.Select((w, i) => i == choice ? c : w).ToArray())];
        string? last = null;
        foreach (string candidate in candidates)
        {
            string help = Help(candidate);
            var required = RequiredOption().Matches(help).Select(m => m.Groups[1].Value).Where(o => !names.Contains(o)).SelectMany(o => new[] { o, "x" });
            var errors = variants.Select(v => FinGen.Cli.Cli.CreateRoot(Quiet()).Parse([candidate, .. WithNumbers(v), .. required]).Errors).FirstOrDefault(e => e.Count > 0);
            if (errors is null) return null;
            last = $"fingen {candidate}: {errors[0].Message}";
        }
        return last;
    }

    /// <summary>
    /// An example's arguments made runnable here: DIR becomes a run directory trained <see cref="ExampleSteps"/> steps,
    /// FILE.safetensors its checkpoint, numbers stand for N; a train run gets --steps <see cref="ExampleSteps"/> (or no more)
    /// and a new --out. An example with another placeholder fails the test, so that nothing shown goes unrun.
    /// </summary>
    private static List<string> Runnable(string[] words, string dir)
    {
        Directory.CreateDirectory(dir);
        string? run = null;
        string Run()
        {
            if (run is not null) return run;
            run = Path.Combine(dir, "trained");
            var r = Fingen("train", "--steps", ExampleSteps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--out", run);
            Assert.That(r.Code, Is.Zero, r.Error);
            return run;
        }
        var args = new List<string>();
        foreach (string word in WithNumbers(words))
        {
            args.Add(word switch
            {
                "DIR" => Run(),
                "FILE.safetensors" or "FILE" => Path.Combine(Run(), "checkpoint.safetensors"),
                _ when IsPlaceholder(word) => throw new AssertionException($"fingen {string.Join(' ', words)}: no stand-in for {word}; teach ReadmeTests.Runnable one"),
                _ => word,
            });
        }
        if (args[0] == "train")
        {
            int steps = args.IndexOf("--steps");
            if (steps < 0) args.AddRange(["--steps", ExampleSteps.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            else args[steps + 1] = Math.Min(int.Parse(args[steps + 1], System.Globalization.CultureInfo.InvariantCulture), ExampleSteps).ToString(System.Globalization.CultureInfo.InvariantCulture);
            int resume = args.IndexOf("--resume");
            bool inPlace = resume >= 0 && Directory.Exists(args[resume + 1]);
            if (!inPlace && !args.Contains("--out")) args.AddRange(["--out", Path.Combine(dir, "out")]);
        }
        return args;
    }

    /// <summary>Placeholders of numbers (N, L, DAYS, S, X) as numbers, so that an example's shape is what is parsed.</summary>
    private static IEnumerable<string> WithNumbers(IEnumerable<string> words) =>
        words.Select(w => w switch { "N" => "3", "L" => "28", "DAYS" => "30", "S" => "1", "X" => "0.001", _ => w });

    private static bool IsPlaceholder(string word) => PlaceholderWord().IsMatch(word);

    /// <summary>Words as a shell splits them: at spaces, with "…" kept as one word without its quotes.</summary>
    private static string[] Words(string line) =>
        [.. ShellWord().Matches(line).Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Value)];

    private static readonly Dictionary<string, string> HelpTexts = [];

    /// <summary><c>fingen [command] --help</c>'s text, read once.</summary>
    private static string Help(string? command = null)
    {
        lock (HelpTexts)
        {
            string key = command ?? "";
            if (!HelpTexts.TryGetValue(key, out var text))
                HelpTexts[key] = text = (command is null ? Fingen("--help") : Fingen(command, "--help")).Out;
            return text;
        }
    }

    private static FinGen.Cli.CliConsole Quiet() => new(TextWriter.Null, TextWriter.Null, Interactive: false);

    // ---- reading README.md and --help

    private static IEnumerable<string> FencedBlocks(string readme) => FencedBlock().Matches(readme).Select(m => m.Groups[1].Value);

    /// <summary>README.md's usage block: command → option → its written value (<c>a|b|c</c>, <c>N</c>) or null for a flag.</summary>
    internal static Dictionary<string, Dictionary<string, string?>> UsageBlock(string readme)
    {
        var block = FencedBlocks(readme).FirstOrDefault(b => b.Split('\n').Any(l => l.StartsWith("fingen train", StringComparison.Ordinal)));
        Assert.That(block, Is.Not.Null, "README.md has no ``` block listing `fingen train ...`");
        var usage = new Dictionary<string, Dictionary<string, string?>>();
        Dictionary<string, string?>? current = null;
        foreach (string line in block!.Split('\n'))
        {
            if (line.Trim().Length == 0) continue;
            if (line.StartsWith("fingen ", StringComparison.Ordinal))
            {
                string command = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
                if (!usage.TryGetValue(command, out current)) usage[command] = current = [];
            }
            else if (!char.IsWhiteSpace(line[0]) || current is null)
            {
                Assert.Fail($"README.md's usage line neither starts a command nor continues one: '{line}'");
            }
            foreach (Match m in UsageOption().Matches(line))
                current![m.Groups[1].Value] = m.Groups[2].Success ? m.Groups[2].Value : null;
        }
        return usage;
    }

    /// <summary>The commands <c>fingen --help</c> lists.</summary>
    internal static List<string> HelpCommands(string help) => [.. Section(help, "Commands:").Select(l => HelpEntry().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value)];

    /// <summary>A command's options as its --help lists them: name → its choices (<c>a|b|c</c>) or null; --help itself left out.</summary>
    internal static Dictionary<string, string?> HelpOptions(string help)
    {
        var options = new Dictionary<string, string?>();
        foreach (string line in Section(help, "Options:"))
        {
            var entry = HelpEntry().Match(line);
            if (!entry.Success || LongOption().Match(entry.Groups[1].Value) is not { Success: true } name || name.Value == "--help") continue;
            var value = HelpValue().Match(entry.Groups[1].Value);
            options[name.Value] = value.Success && value.Groups[1].Value.Contains('|') ? value.Groups[1].Value : null;
        }
        return options;
    }

    /// <summary>The lines under a heading of System.CommandLine's help, up to the next heading.</summary>
    private static IEnumerable<string> Section(string help, string heading) =>
        help.Split('\n').Select(l => l.TrimEnd('\r')).SkipWhile(l => l != heading).Skip(1).TakeWhile(l => l.Length == 0 || char.IsWhiteSpace(l[0]));

    [GeneratedRegex(@"<!-- setup:begin -->(.*?)<!-- setup:end -->", RegexOptions.Singleline)]
    private static partial Regex SetupBlock();

    [GeneratedRegex(@"^```[a-z]*\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)]
    private static partial Regex FencedBlock();

    [GeneratedRegex(@"`([^`\n]+)`")]
    private static partial Regex InlineCode();

    /// <summary>
    /// An option of the usage block and the word after it, unless that is the next option or a bracket; the word may hold
    /// an optional part in brackets, as <c>student-t[:DOF]</c>.
    /// </summary>
    [GeneratedRegex(@"(--[a-z0-9][a-z0-9-]*)(?: (?![-|])((?:[^\s\[\]]|\[[^\s\[\]]*\])+))?")]
    private static partial Regex UsageOption();

    /// <summary>A help entry: two spaces, then the names (and value) up to two spaces or the end.</summary>
    [GeneratedRegex(@"^  (\S.*?)(?:\s{2,}|$)")]
    private static partial Regex HelpEntry();

    [GeneratedRegex(@"--[a-z0-9][a-z0-9-]*")]
    private static partial Regex LongOption();

    [GeneratedRegex(@"<([^>]*)>")]
    private static partial Regex HelpValue();

    [GeneratedRegex(@"^  (--[a-z0-9-]+)\b[^\n]*\(REQUIRED\)", RegexOptions.Multiline)]
    private static partial Regex RequiredOption();

    [GeneratedRegex(@"--column[ =]+(?!<)(""[^""]*""|\S+?)(?=[`\s),;\]]|$)")]
    private static partial Regex ColumnExample();

    [GeneratedRegex(@"^[A-Z][A-Z0-9_,.]*(\.[a-z]+)?$")]
    private static partial Regex PlaceholderWord();

    [GeneratedRegex(@"\b(?:about|around|roughly|nearly|under|over|less than|more than|within|takes?|took|in)\s+(a|an|one|two|three|a few|\d[\d.,]*)\s*(µs|μs|ms|milliseconds?|s|secs?|seconds?|mins?|minutes?|h|hours?)\b")]
    private static partial Regex TimeClaim();

    [GeneratedRegex(@"benchmarks/results/[\w./-]+\.\w+")]
    private static partial Regex ResultsFile();

    [GeneratedRegex(@"(?<=[.!?])\s+(?=[A-Z`(*])")]
    private static partial Regex SentenceEnd();

    [GeneratedRegex(@"""([^""]*)""|\S+")]
    private static partial Regex ShellWord();
}
