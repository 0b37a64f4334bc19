// {{name}}: a Hostel caption model written in JavaScript (componentize-js),
// world hostel:plugin/caption-model@0.1.0. A small keyword model: the
// description's content words, ranked, fill one template set per style; the
// hashtags are `[config] hashtag` of hostel.toml, the keywords, then the
// style's tags. Replace keywords(), captions() and hashtags() with a real model.
import { get as configGet } from 'hostel:plugin/config@0.1.0';
import { log } from 'hostel:plugin/log@0.1.0';

const STOPWORDS = new Set(('a about after all an and are as at be by for from has have her his in into is it its my of on or ' +
  'our out over she so that the their them they this to up very was we with you your').split(' '));

const TEMPLATES = {
  inspirational: ['Every {k1} is a new beginning.', 'Chase the {k1}, find the {k2}.', 'Let the {k1} remind you how far you have come.'],
  funny: ['{K1} first, responsibilities later.', 'I came for the {k1}, I stayed for the {k2}.', 'Warning: dangerous levels of {k1} ahead.'],
  professional: ['A closer look at our {k1}.', 'Proud to share our latest {k1} and {k2}.', 'Delivering excellence, one {k1} at a time.'],
  casual: ['Just me, the {k1} and good vibes.', '{K1} kind of day.', "Can't get enough of this {k1} and {k2}."],
};

const STYLE_TAGS = {
  inspirational: ['inspiration', 'motivation', 'dreambig'],
  funny: ['funny', 'lol', 'humor'],
  professional: ['business', 'quality', 'growth'],
  casual: ['vibes', 'weekend', 'chill'],
};

const GENERAL_TAGS = ['photooftheday', 'instagood', 'picoftheday', 'love', 'happy', 'life', 'moments', 'explore'];

// A plugin-error for the host: 'invalid-input' is HTTP 422.
const invalid = (message) => { throw { code: 'invalid-input', message }; };

// The description's content words, best first: frequent and early words weigh more.
function keywords(description) {
  const weight = new Map();
  // Letters (Latin ones, accented too) and digits; StarlingMonkey's regexps have no \p{L}.
  const words = description.toLowerCase().split(/[^0-9a-z\u00c0-\u024f]+/).filter((w) => w.length > 2 && !STOPWORDS.has(w));
  words.forEach((w, i) => weight.set(w, (weight.get(w) ?? 0) + 1 / (1 + 0.1 * i)));
  return [...weight].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
}

function captions(style, words, limit) {
  const [k1, k2 = k1] = words;
  const templates = TEMPLATES[style];
  return templates
    .map((t, rank) => ({
      text: t.replace('{K1}', k1[0].toUpperCase() + k1.slice(1)).replace('{k1}', k1).replace('{k2}', k2),
      score: 1 - rank / templates.length,
    }))
    .slice(0, limit);
}

function hashtags(style, words, count) {
  const candidates = [configGet('hashtag') ?? '', ...words.slice(0, 5), ...STYLE_TAGS[style], ...GENERAL_TAGS];
  const tags = [];
  for (const tag of candidates.map((t) => t.replace(/^#+/, ''))) {
    if (tags.length === count) break;
    if (tag && !tags.includes(tag)) tags.push(tag);
  }
  // Still short (a huge hashtag_count): number the general tags.
  for (let n = 2; tags.length < count; n++) tags.push(`${GENERAL_TAGS[tags.length % GENERAL_TAGS.length]}${n}`);
  return tags.map((t) => `#${t}`);
}

function generate(request) {
  // The limits every caption model shares (the Rust SDK's caption::validate).
  const { description, style, hashtagCount, maxCaptions } = request;
  if (!description.trim()) invalid('description is empty');
  if (hashtagCount > 30) invalid(`hashtag_count ${hashtagCount} is out of range 0..=30`);
  if (maxCaptions === 0 || maxCaptions > 20) invalid(`max_captions ${maxCaptions} is out of range 1..=20`);
  const words = keywords(description);
  if (words.length === 0) invalid('the description has no usable words');
  log('debug', `${style} captions from ${words.slice(0, 3).join(', ')}`);
  return { captions: captions(style, words, maxCaptions), hashtags: hashtags(style, words, hashtagCount) };
}

// The caption-stream resource: captions computed up front, handed out one per next().
class CaptionStream {
  constructor(captions) {
    this.captions = captions;
    this.index = 0;
  }
  next() {
    return this.index < this.captions.length ? this.captions[this.index++] : undefined;
  }
}

export const captioner = {
  CaptionStream,
  describe() {
    return { name: '{{name}}', version: '0.1.0', description: 'Keyword captions per style and ranked hashtags (a caption-model template)' };
  },
  generate,
  // The same captions, handed out one per next() (the /caption/stream route).
  generateStream(request) {
    return new CaptionStream(generate(request).captions);
  },
};
