//! `sensor rules`: the rule catalogue.

use crate::rules::CATALOG;

pub fn print() {
    println!("{:<32} {:<9} {:<10} WHAT", "RULE", "SEVERITY", "TECHNIQUE");
    for rule in CATALOG {
        println!(
            "{:<32} {:<9} {:<10} {}",
            rule.id, rule.severity, rule.technique, rule.summary
        );
    }
}
