//! The content filter's built-in `categories` (LiteLLM's `litellm_content_filter` category
//! names: `harmful_*`, `bias_*`, `denied_*`, `prompt_injection`): for each, Tollgate's own
//! phrase list with a severity per phrase. A category entry's `severity_threshold` (default
//! `medium`, as in LiteLLM) keeps the phrases at or above it; they join the guardrail's keyword
//! automaton (case-insensitive, on word boundaries). Data only.
//!
//! The lists favour precision: high and medium entries are phrasings of intent ("how to kill
//! someone", "buy a gun without a background check"), not bare words that also name everyday
//! things ("kill the process", "shoot a photo", "a loaded question"); single words that are
//! rarely benign are `low`, counted only with `severity_threshold: low`.

/// How serious a phrase is (LiteLLM's `low` / `medium` / `high`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }
}

/// One built-in category.
pub struct Category {
    pub name: &'static str,
    pub phrases: &'static [(&'static str, Severity)],
}

use Severity::{High as H, Low as L, Medium as M};

/// Every built-in category. `prompt_injection` (also `jailbreak`) is
/// [`crate::guard_patterns::PROMPT_INJECTION`], all high.
pub static CATEGORIES: &[Category] = &[
    Category {
        name: "harmful_self_harm",
        phrases: &[
            ("how to kill myself", H),
            ("ways to kill myself", H),
            ("best way to kill myself", H),
            ("i want to kill myself", H),
            ("i am going to kill myself", H),
            ("i'm going to kill myself", H),
            ("how to commit suicide", H),
            ("painless way to die", H),
            ("painless suicide", H),
            ("how many pills to overdose", H),
            ("how much to overdose", H),
            ("lethal dose to end my life", H),
            ("end my life", H),
            ("i want to die", M),
            ("how to cut myself", H),
            ("hide my self-harm", H),
            ("hide self harm scars", H),
            ("i want to hurt myself", M),
            ("better off dead", M),
            ("starve myself", M),
            ("suicide note", M),
            ("self-harm", L),
            ("suicidal", L),
        ],
    },
    Category {
        name: "harmful_violence",
        phrases: &[
            ("how to kill someone", H),
            ("how to kill a person", H),
            ("how to murder someone", H),
            ("help me murder", H),
            ("get away with murder", H),
            ("hire a hitman", H),
            ("plan a shooting", H),
            ("plan a mass shooting", H),
            ("plan a terrorist attack", H),
            ("carry out a terrorist attack", H),
            ("how to poison someone", H),
            ("poison my wife", H),
            ("poison my husband", H),
            ("how to torture someone", H),
            ("kidnap a child", H),
            ("how to kidnap someone", H),
            ("dispose of a body", H),
            ("hide a dead body", H),
            ("i will kill you", M),
            ("i'm going to kill you", M),
            ("beat him to death", M),
            ("beat her to death", M),
            ("stab someone", M),
            ("shoot up the school", H),
            ("shoot up my school", H),
            ("massacre", L),
            ("murder", L),
        ],
    },
    Category {
        name: "harmful_illegal_weapons",
        phrases: &[
            ("how to make a bomb", H),
            ("how to build a bomb", H),
            ("build a pipe bomb", H),
            ("make a pipe bomb", H),
            ("how to make explosives", H),
            ("homemade explosive", H),
            ("make napalm", H),
            ("make thermite at home", M),
            ("make a molotov cocktail", H),
            ("convert to full auto", H),
            ("convert my rifle to full auto", H),
            ("auto sear", M),
            ("bump stock install", M),
            ("untraceable gun", H),
            ("ghost gun", M),
            ("3d printed gun", M),
            ("file off the serial number", H),
            ("remove the serial number from a gun", H),
            ("buy a gun without a background check", H),
            ("avoid a background check", M),
            ("make a silencer", H),
            ("homemade silencer", H),
            ("solvent trap silencer", M),
            ("make sarin", H),
            ("make ricin", H),
            ("nerve agent synthesis", H),
            ("weaponize anthrax", H),
            ("dirty bomb", M),
            ("explosives", L),
        ],
    },
    Category {
        name: "harmful_child_safety",
        phrases: &[
            ("sexual content involving minors", H),
            ("sexualize a child", H),
            ("sexualize children", H),
            ("child sexual abuse material", H),
            ("groom a child", H),
            ("how to groom a minor", H),
            ("meet a child alone without their parents", H),
            ("nude photos of a minor", H),
            ("explicit images of children", H),
            ("lure a child", H),
            ("csam", M),
        ],
    },
    Category {
        name: "bias_gender",
        phrases: &[
            ("women are inferior", H),
            ("women are too emotional to lead", H),
            ("women belong in the kitchen", H),
            ("women can't do math", H),
            ("women cannot do math", H),
            ("men are superior to women", H),
            ("don't hire women", H),
            ("do not hire women", H),
            ("never hire a woman", H),
            ("only hire men", M),
            ("women shouldn't vote", H),
            ("a woman's place is in the home", M),
            ("girls are bad at science", M),
            ("men are trash", M),
        ],
    },
    Category {
        name: "bias_racial",
        phrases: &[
            ("racially inferior", H),
            ("inferior race", H),
            ("superior race", H),
            ("white supremacy is right", H),
            ("don't hire black people", H),
            ("do not hire black people", H),
            ("don't rent to immigrants", H),
            ("all immigrants are criminals", H),
            ("go back to your country", M),
            ("race war now", H),
            ("ethnic cleansing is justified", H),
            ("people of that race are lazy", M),
        ],
    },
    Category {
        name: "bias_religious",
        phrases: &[
            ("all muslims are terrorists", H),
            ("all jews are greedy", H),
            ("jews control the world", H),
            ("christians are idiots", M),
            ("atheists are immoral", M),
            ("ban all muslims", H),
            ("don't hire muslims", H),
            ("do not hire jews", H),
            ("religion of violence", M),
            ("burn their temples", H),
        ],
    },
    Category {
        name: "bias_sexual_orientation",
        phrases: &[
            ("homosexuality is a disease", H),
            ("gay people are sick", H),
            ("being gay is a mental illness", H),
            ("conversion therapy works", M),
            ("cure homosexuality", H),
            ("don't hire gay people", H),
            ("do not hire gay people", H),
            ("gays should be punished", H),
            ("trans people are mentally ill", H),
        ],
    },
    Category {
        name: "denied_financial_advice",
        phrases: &[
            ("which stocks should i buy", M),
            ("what stock should i buy", M),
            ("should i buy this stock", M),
            ("should i sell my shares", M),
            ("which crypto should i invest in", M),
            ("should i invest in bitcoin", M),
            ("guaranteed returns", M),
            ("tell me what to invest in", M),
            ("how should i allocate my portfolio", M),
            ("is this a good investment", L),
            ("investment advice", L),
        ],
    },
    Category {
        name: "denied_legal_advice",
        phrases: &[
            ("should i sue", M),
            ("can i sue my", M),
            ("how do i get out of this contract", M),
            ("should i plead guilty", H),
            ("how to avoid being served", H),
            ("will i win my case", M),
            ("draft my will for me", M),
            ("what should i say to the police", M),
            ("legal advice", L),
        ],
    },
    Category {
        name: "denied_insults",
        phrases: &[
            ("you are an idiot", M),
            ("you're an idiot", M),
            ("you are stupid", M),
            ("you're stupid", M),
            ("you are useless", M),
            ("you're useless", M),
            ("you are a moron", M),
            ("you're a moron", M),
            ("shut up you", M),
            ("worthless piece of", H),
            ("dumbest bot", M),
            ("idiot", L),
            ("moron", L),
        ],
    },
];

/// The built-in category named `name` (any case).
pub fn category(name: &str) -> Option<&'static Category> {
    CATEGORIES
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(name))
}

/// Every category name, for error messages.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<&str> = vec!["prompt_injection", "jailbreak"];
    v.extend(CATEGORIES.iter().map(|c| c.name));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_lower_case_and_unique() {
        for c in CATEGORIES {
            for (i, (p, _)) in c.phrases.iter().enumerate() {
                assert_eq!(*p, p.to_lowercase(), "{}: {p}", c.name);
                assert!(
                    !c.phrases[..i].iter().any(|(q, _)| q == p),
                    "{}: {p} twice",
                    c.name
                );
            }
        }
        assert!(category("HARMFUL_VIOLENCE").is_some());
        assert!(Severity::High > Severity::Medium && Severity::Medium > Severity::Low);
    }
}
